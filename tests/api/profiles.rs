//! Profiles: fields, pictures (checked by content, re-encoded, stored as
//! blobs, streamed with caching headers), and what the public sees.

use std::io::Cursor;
use std::path::Path;

use image::{DynamicImage, ImageFormat, RgbaImage};
use reqwest::multipart::{Form, Part};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::helpers::{events_of, ild_error, spawn_app, Backend, TestApp};

/// A PNG with a text chunk (metadata that must not survive) after IHDR.
fn png_with_metadata(width: u32, height: u32) -> (Vec<u8>, RgbaImage) {
    let pixels = RgbaImage::from_fn(width, height, |x, y| {
        image::Rgba([(x * 3) as u8, (y * 5) as u8, (x ^ y) as u8, 255 - x as u8])
    });
    let mut png = Vec::new();
    DynamicImage::ImageRgba8(pixels.clone())
        .write_to(&mut Cursor::new(&mut png), ImageFormat::Png)
        .expect("encode");
    // 8-byte signature + IHDR (4 length + 4 type + 13 data + 4 crc).
    let after_ihdr = 8 + 25;
    let mut chunk = Vec::new();
    let data = b"Comment\0taken at 51.5007N 0.1246W";
    chunk.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let mut body = b"tEXt".to_vec();
    body.extend_from_slice(data);
    chunk.extend_from_slice(&body);
    chunk.extend_from_slice(&crc32fast::hash(&body).to_be_bytes());
    png.splice(after_ihdr..after_ihdr, chunk);
    (png, pixels)
}

/// A PNG whose header declares `width × height` (a decompression bomb's
/// header: the data would inflate to gigabytes).
fn png_declaring(width: u32, height: u32) -> Vec<u8> {
    let (mut png, _) = png_with_metadata(16, 16);
    png[16..20].copy_from_slice(&width.to_be_bytes());
    png[20..24].copy_from_slice(&height.to_be_bytes());
    let crc = crc32fast::hash(&png[12..29]);
    png[29..33].copy_from_slice(&crc.to_be_bytes());
    png
}

fn encoded(format: ImageFormat) -> Vec<u8> {
    let pixels = RgbaImage::from_fn(20, 10, |x, y| {
        image::Rgba([x as u8 * 10, y as u8 * 20, 0, 255])
    });
    let image = if format == ImageFormat::Jpeg {
        DynamicImage::ImageRgb8(DynamicImage::ImageRgba8(pixels).to_rgb8())
    } else {
        DynamicImage::ImageRgba8(pixels)
    };
    let mut bytes = Vec::new();
    image
        .write_to(&mut Cursor::new(&mut bytes), format)
        .expect("encode");
    bytes
}

async fn put_profile(app: &TestApp, token: &str, form: Form) -> reqwest::Response {
    app.client
        .put(app.url("/user/profile"))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .expect("request")
}

fn picture(bytes: Vec<u8>, file_name: &str, mime: &str) -> Part {
    Part::bytes(bytes)
        .file_name(file_name.to_string())
        .mime_str(mime)
        .expect("mime")
}

/// Every file under `dir` (none when it does not exist).
pub fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_under(&path));
        } else {
            found.push(path);
        }
    }
    found
}

on_both_backends!(
    an_uploaded_png_comes_back_byte_for_byte_as_stored_with_its_type_and_cache_headers
);
async fn an_uploaded_png_comes_back_byte_for_byte_as_stored_with_its_type_and_cache_headers(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let login = app.signed_in("ada@example.com", "correct horse").await;
    let token = login["token"].as_str().expect("token");
    let id = login["user"]["id"].as_str().expect("id");
    let (upload, pixels) = png_with_metadata(64, 48);

    let form = Form::new()
        .text("nickname", "ada")
        .text("bio", "First programmer.\nEngines.")
        .text("phone", "+44 20 7946 0958")
        .part(
            "profileImage",
            picture(upload.clone(), "me.png", "image/png"),
        );
    let response = put_profile(&app, token, form).await;
    assert_eq!(response.status(), StatusCode::OK);
    let updated: Value = response.json().await.expect("json");
    assert_eq!(updated["nickname"], "ada");
    assert_eq!(updated["bio"], "First programmer.\nEngines.");
    assert_eq!(updated["phone"], "+44 20 7946 0958");
    let key = updated["profileImage"].as_str().expect("key").to_string();
    assert_eq!(
        updated["profileImageUrl"],
        format!("/user/profile/stream/{key}")
    );
    let (hash, ext) = key.split_once('.').expect("key.ext");
    assert_eq!(ext, "png");

    // What is served is exactly what was stored, under its content hash.
    let stored = files_under(&app.db.blob_dir());
    assert_eq!(stored.len(), 1, "{stored:?}");
    let on_disk = std::fs::read(&stored[0]).expect("blob");
    assert_eq!(hex::encode(Sha256::digest(&on_disk)), hash);
    let response = app
        .get_auth(&format!("/user/profile/stream/{key}"), token)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "image/png");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["etag"], format!("\"{hash}\""));
    let cache = headers["cache-control"].to_str().expect("ascii");
    assert!(
        cache.contains("private") && cache.contains("immutable"),
        "{cache}"
    );
    let served = response.bytes().await.expect("body");
    assert_eq!(served.as_ref(), on_disk.as_slice());
    // Same pixels, but the metadata and the original bytes are gone.
    let decoded = image::load_from_memory(&served).expect("a PNG").to_rgba8();
    assert_eq!(decoded, pixels);
    assert!(!String::from_utf8_lossy(&served).contains("51.5007N"));
    assert_ne!(served.as_ref(), upload.as_slice());

    // Revalidation, authentication, unknown keys.
    let again = app
        .client
        .get(app.url(&format!("/user/profile/stream/{key}")))
        .bearer_auth(token)
        .header("if-none-match", format!("\"{hash}\""))
        .send()
        .await
        .expect("request");
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    let anonymous = app
        .client
        .get(app.url(&format!("/user/profile/stream/{key}")))
        .send()
        .await
        .expect("request");
    ild_error(anonymous, StatusCode::UNAUTHORIZED).await;
    for missing in [
        format!("{}.png", "0".repeat(64)),
        "..%2F..%2Fetc%2Fpasswd".to_string(),
    ] {
        ild_error(
            app.get_auth(&format!("/user/profile/stream/{missing}"), token)
                .await,
            StatusCode::NOT_FOUND,
        )
        .await;
    }

    // The owner sees everything; the public only public fields.
    let own: Value = app
        .get_auth("/user/profile", token)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(own["profileImage"], key.as_str());
    assert_eq!(own["phone"], "+44 20 7946 0958");
    let public: Value = app
        .client
        .get(app.url(&format!("/user/profile/{id}")))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(public["nickname"], "ada");
    assert_eq!(public["profileImage"], key.as_str());
    for private in [
        "phone",
        "birthDate",
        "email",
        "roles",
        "subscription",
        "categories",
    ] {
        assert!(
            public.get(private).is_none(),
            "{private} is public: {public}"
        );
    }
    // Exactly the public fields, nothing else.
    let mut keys: Vec<&str> = public
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "bio",
            "createdAt",
            "firstName",
            "id",
            "language",
            "lastName",
            "location",
            "nickname",
            "profileImage",
            "profileImageUrl",
            "timezone",
            "website",
        ]
    );

    assert_eq!(events_of(&app, "ProfileUpdated").await, 1);
    crate::helpers::assert_recorded_with_metadata(&app, "ProfileUpdated", "user:").await;
    // The event names the picture by key; it holds no image bytes.
    let payload = app
        .strings("SELECT CAST(payload AS text) FROM events WHERE event_type = 'ProfileUpdated'")
        .await;
    assert!(
        payload[0].contains(&key) && payload[0].len() < 2000,
        "{}",
        payload[0]
    );

    // Removing the picture; sending the same values again changes nothing.
    let form = Form::new()
        .text("removeProfileImage", "true")
        .text("nickname", "ada");
    let removed: Value = put_profile(&app, token, form)
        .await
        .json()
        .await
        .expect("json");
    assert!(removed["profileImage"].is_null(), "{removed}");
    let form = Form::new().text("nickname", "ada");
    assert_eq!(
        put_profile(&app, token, form).await.status(),
        StatusCode::OK
    );
    assert_eq!(events_of(&app, "ProfileUpdated").await, 2);
}

on_both_backends!(
    text_named_png_a_20_mb_file_and_a_decompression_bomb_are_refused_and_nothing_is_stored
);
async fn text_named_png_a_20_mb_file_and_a_decompression_bomb_are_refused_and_nothing_is_stored(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let login = app.signed_in("ada@example.com", "correct horse").await;
    let token = login["token"].as_str().expect("token");

    let text = picture(
        b"just some text, honestly".to_vec(),
        "photo.png",
        "image/png",
    );
    let body = ild_error(
        put_profile(
            &app,
            token,
            Form::new()
                .text("nickname", "ada")
                .part("profileImage", text),
        )
        .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("PNG, JPEG, WebP or GIF")),
        "{body}"
    );

    let mut huge = png_with_metadata(8, 8).0;
    huge.resize(20 * 1024 * 1024, 0);
    let big = picture(huge, "big.png", "image/png");
    ild_error(
        put_profile(&app, token, Form::new().part("profileImage", big)).await,
        StatusCode::PAYLOAD_TOO_LARGE,
    )
    .await;

    // 50,000 × 50,000 pixels declared in a file of a few hundred bytes.
    let bomb = png_declaring(50_000, 50_000);
    assert!(bomb.len() < 4096);
    let body = ild_error(
        put_profile(
            &app,
            token,
            Form::new().part("profileImage", picture(bomb, "b.png", "image/png")),
        )
        .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("pixels")),
        "{body}"
    );

    // A real PNG whose data is cut short.
    let mut truncated = png_with_metadata(64, 64).0;
    truncated.truncate(truncated.len() / 2);
    ild_error(
        put_profile(
            &app,
            token,
            Form::new().part("profileImage", picture(truncated, "t.png", "image/png")),
        )
        .await,
        StatusCode::BAD_REQUEST,
    )
    .await;

    assert_eq!(
        events_of(&app, "ProfileUpdated").await,
        0,
        "a refused upload wrote an event"
    );
    let stored = files_under(&app.db.blob_dir());
    assert!(stored.is_empty(), "a refused upload stored {stored:?}");
    let profile: Value = app
        .get_auth("/user/profile", token)
        .await
        .json()
        .await
        .expect("json");
    assert!(
        profile["nickname"].is_null(),
        "half an update was applied: {profile}"
    );
    // The store does write where the test looks: a valid picture lands there.
    let (good, _) = png_with_metadata(8, 8);
    let form = Form::new().part("profileImage", picture(good, "ok.png", "image/png"));
    assert_eq!(
        put_profile(&app, token, form).await.status(),
        StatusCode::OK
    );
    assert_eq!(files_under(&app.db.blob_dir()).len(), 1);
}

on_both_backends!(jpeg_webp_and_gif_are_accepted_and_stored_re_encoded);
async fn jpeg_webp_and_gif_are_accepted_and_stored_re_encoded(backend: Backend) {
    let app = spawn_app(backend).await;
    let login = app.signed_in("ada@example.com", "correct horse").await;
    let token = login["token"].as_str().expect("token");
    for (format, name, stored_as) in [
        (ImageFormat::Jpeg, "p.jpg", "image/jpeg"),
        (ImageFormat::WebP, "p.webp", "image/png"),
        (ImageFormat::Gif, "p.gif", "image/png"),
    ] {
        // The declared type is ignored: content decides.
        let part = picture(encoded(format), name, "application/octet-stream");
        let response = put_profile(&app, token, Form::new().part("profileImage", part)).await;
        assert_eq!(response.status(), StatusCode::OK, "{name}");
        let body: Value = response.json().await.expect("json");
        let key = body["profileImage"].as_str().expect("key");
        let served = app
            .get_auth(&format!("/user/profile/stream/{key}"), token)
            .await;
        assert_eq!(served.headers()["content-type"], stored_as, "{name}");
        let bytes = served.bytes().await.expect("body");
        let image = image::load_from_memory(&bytes).expect("decodes");
        assert_eq!((image.width(), image.height()), (20, 10), "{name}");
    }
}

on_both_backends!(profile_fields_are_validated_cleared_and_sent_as_json_too);
async fn profile_fields_are_validated_cleared_and_sent_as_json_too(backend: Backend) {
    let app = spawn_app(backend).await;
    let login = app.signed_in("ada@example.com", "correct horse").await;
    let token = login["token"].as_str().expect("token");
    let put_json = |body: Value| {
        app.client
            .put(app.url("/user/profile"))
            .bearer_auth(token)
            .json(&body)
            .send()
    };
    let response = put_json(json!({
        "firstName": "Augusta", "location": "London", "website": "https://ada.example",
        "language": "en-GB", "timezone": "Europe/London", "birthDate": "1915-12-10"
    }))
    .await
    .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["firstName"], "Augusta");
    assert_eq!(body["birthDate"], "1915-12-10");
    assert_eq!(body["timezone"], "Europe/London");
    let events = events_of(&app, "ProfileUpdated").await;

    for (bad, field) in [
        (json!({ "website": "javascript:alert(1)" }), "website"),
        (json!({ "email": "other@example.com" }), "email"),
        (json!({ "birthDate": "2999-01-01" }), "birthDate"),
        (json!({ "firstName": "" }), "firstName"),
        (json!({ "nickname": 42 }), "strings"),
        (json!({ "location": "x".repeat(101) }), "location"),
    ] {
        let body = ild_error(
            put_json(bad.clone()).await.expect("request"),
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert!(
            body["message"].as_str().is_some_and(|m| m.contains(field)),
            "{bad}: {body}"
        );
    }
    let form = Form::new().text("phone", "call me maybe");
    ild_error(
        put_profile(&app, token, form).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(
        events_of(&app, "ProfileUpdated").await,
        events,
        "a refused update wrote an event"
    );

    // Clearing: null or "".
    let cleared: Value = put_json(json!({ "location": null, "website": "" }))
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert!(
        cleared["location"].is_null() && cleared["website"].is_null(),
        "{cleared}"
    );
    assert_eq!(cleared["language"], "en-GB");

    let anonymous = app
        .client
        .put(app.url("/user/profile"))
        .multipart(Form::new().text("nickname", "x"))
        .send()
        .await
        .expect("request");
    ild_error(anonymous, StatusCode::UNAUTHORIZED).await;
}

on_both_backends!(
    a_long_stream_loads_from_its_snapshot_to_the_same_state_and_a_stale_snapshot_is_never_read
);
/// Every 32 events a command writes a snapshot of the user; loads fold the
/// snapshot and the events after it. The state must be what the whole
/// stream gives, the answers what they would be without snapshots, and a
/// snapshot of another format (an older build's) or an unreadable one must
/// be ignored, never trusted.
async fn a_long_stream_loads_from_its_snapshot_to_the_same_state_and_a_stale_snapshot_is_never_read(
    backend: Backend,
) {
    use aggregates::User;
    let app = spawn_app(backend).await;
    let login = app.signed_in("long@example.com", "correct horse").await;
    let token = login["token"].as_str().expect("token");
    let user_id = login["user"]["id"].as_str().expect("id").to_string();
    let update = |i: usize| {
        app.client
            .put(app.url("/user/profile"))
            .bearer_auth(token)
            .json(&json!({ "nickname": format!("n{i}"), "location": format!("city {i}") }))
            .send()
    };
    let store = &app.app.store;
    let snapshot_at = || async {
        app.store()
            .await
            .scalars::<i64>(
                "SELECT last_sequence FROM aggregate_snapshots
                  WHERE aggregate_type = 'user' AND aggregate_id = $1",
                &[crate::helpers::Arg::Text(user_id.clone())],
            )
            .await
    };
    for i in 0..40 {
        assert_eq!(update(i).await.expect("request").status(), StatusCode::OK);
    }
    let taken = snapshot_at().await;
    assert_eq!(taken.len(), 1, "a snapshot after 32 events");
    let same_state = || async {
        let fast = store.load::<User>(&user_id).await.expect("load");
        let full = store.load_stream::<User>(&user_id).await.expect("load");
        assert_eq!(fast.version, full.version);
        assert_eq!(
            serde_json::to_value(&fast.state).expect("json"),
            serde_json::to_value(&full.state).expect("json")
        );
        fast
    };
    let loaded = same_state().await;
    assert!(loaded.snapshot >= 32 && loaded.snapshot as i64 == taken[0]);
    assert!(loaded.version > loaded.snapshot);

    // The next commands keep working from it; the answer shows the last
    // update, and the read model agrees.
    for i in 40..80 {
        assert_eq!(update(i).await.expect("request").status(), StatusCode::OK);
    }
    let newer = snapshot_at().await;
    assert!(newer[0] > taken[0], "the snapshot moves on: {newer:?}");
    let profile: Value = app
        .get_auth("/user/profile", token)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(profile["nickname"], "n79", "{profile}");
    same_state().await;

    // A snapshot saying something the log does not, in another format (as
    // an older build would have written it): never read.
    let forged = |format: &str| {
        format!(
            "UPDATE aggregate_snapshots SET format = '{format}',
                    state = replace(CAST(state AS TEXT), 'n79', 'forged')
              WHERE aggregate_id = '{user_id}'"
        )
    };
    let db = app.app.store.db().clone();
    let postgres = matches!(db, projections::Db::Postgres(_));
    let write = |sql: String| {
        let db = db.clone();
        // PostgreSQL keeps the state as jsonb.
        let sql = if postgres {
            sql.replace(
                "state = replace(CAST(state AS TEXT), 'n79', 'forged')",
                "state = replace(CAST(state AS TEXT), 'n79', 'forged')::jsonb",
            )
        } else {
            sql
        };
        async move { crate::helpers::write(&db, &sql).await }
    };
    write(forged("0.old")).await;
    let loaded = same_state().await;
    assert_eq!(loaded.snapshot, 0, "another format is not read");
    // An unreadable one of this build's format: the whole stream is read.
    let format = eventauth::store::snapshot_format::<User>();
    write(format!(
        "UPDATE aggregate_snapshots SET format = '{format}', state = '{{\"id\": 42}}'
          WHERE aggregate_id = '{user_id}'"
    ))
    .await;
    let loaded = same_state().await;
    assert_eq!(loaded.snapshot, 0, "an unreadable snapshot is not used");
    assert_eq!(update(80).await.expect("request").status(), StatusCode::OK);
    let profile: Value = app
        .get_auth("/user/profile", token)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(profile["nickname"], "n80", "{profile}");
}
