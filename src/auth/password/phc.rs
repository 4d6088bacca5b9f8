//! argon2 hashes in PHC form: making one with today's parameters, checking
//! a password against a stored one (within limits), and telling whether a
//! stored one is current.

use aggregates::PasswordHash;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{Output, ParamsString, PasswordHash as Phc, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};

use super::with_memory;

/// The most memory a stored argon2 hash may ask for (256 MiB), and the
/// most passes: a hash beyond them (imported, say) is not verified, so no
/// credential can make a login allocate gigabytes or run for minutes.
const MAX_STORED_MEMORY_KIB: u32 = 256 * 1024;
/// See [`MAX_STORED_MEMORY_KIB`].
const MAX_STORED_ITERATIONS: u32 = 64;

/// The parameters of an argon2 PHC hash, when within the limits above (or
/// within today's parameters, should those be configured higher).
fn stored_params(phc: &Phc<'_>, today: Option<&Params>) -> Option<Params> {
    let params = Params::try_from(phc).ok()?;
    let memory = MAX_STORED_MEMORY_KIB.max(today.map_or(0, Params::m_cost));
    let iterations = MAX_STORED_ITERATIONS.max(today.map_or(0, Params::t_cost));
    (params.m_cost() <= memory && params.t_cost() <= iterations).then_some(params)
}

/// An argon2id hash of `password` with a fresh salt, in PHC form, computed
/// in `memory` (at least `params.block_count()` blocks).
pub(super) fn hash_with(
    params: &Params,
    password: &[u8],
    memory: &mut [Block],
) -> anyhow::Result<PasswordHash> {
    let error = |e: argon2::Error| anyhow::anyhow!("argon2: {e}");
    let salt = SaltString::generate(&mut OsRng);
    let mut raw_salt = [0u8; 64];
    let raw_salt = salt
        .as_salt()
        .decode_b64(&mut raw_salt)
        .map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let mut out = vec![0u8; params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN)];
    argon2
        .hash_password_into_with_memory(password, raw_salt, &mut out, memory)
        .map_err(error)?;
    let phc = Phc {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(|e| anyhow::anyhow!("params: {e}"))?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(|e| anyhow::anyhow!("output: {e}"))?),
    };
    Ok(PasswordHash::new(phc.to_string()))
}

/// Whether `password` matches an argon2 PHC hash (its own algorithm,
/// version and parameters), computed in this thread's reused memory; the
/// outputs compared in constant time.
pub(super) fn verify_argon2(password: &[u8], phc: &Phc<'_>, today: &Params) -> bool {
    let (Some(salt), Some(expected)) = (&phc.salt, &phc.hash) else {
        return false;
    };
    let (Ok(algorithm), Some(params)) = (
        Algorithm::try_from(phc.algorithm),
        stored_params(phc, Some(today)),
    ) else {
        return false;
    };
    let version = match phc.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(version)) => version,
        Some(Err(_)) => return false,
    };
    let mut raw_salt = [0u8; 64];
    let Ok(raw_salt) = salt.decode_b64(&mut raw_salt) else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    let argon2 = Argon2::new(algorithm, version, params.clone());
    let computed = with_memory(params.block_count(), today.block_count(), |memory| {
        argon2.hash_password_into_with_memory(password, raw_salt, &mut out, memory)
    });
    computed.is_ok() && Output::new(&out).is_ok_and(|out| &out == expected)
}

/// Whether `hash` is one this service verifies: argon2 (PHC) or a legacy
/// format ([`crate::auth::legacy`]).
pub fn is_supported_hash(hash: &str) -> bool {
    crate::auth::legacy::Legacy::parse(hash).is_some()
        || Phc::new(hash).is_ok_and(|phc| {
            phc.algorithm.as_str().starts_with("argon2") && stored_params(&phc, None).is_some()
        })
}

/// Whether a stored hash was made with today's algorithm and parameters.
pub(super) fn current(parsed: &Phc<'_>, params: &Params) -> bool {
    if parsed.algorithm != Algorithm::Argon2id.ident() {
        return false;
    }
    Params::try_from(parsed).is_ok_and(|stored| {
        stored.m_cost() == params.m_cost()
            && stored.t_cost() == params.t_cost()
            && stored.p_cost() == params.p_cost()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_asking_for_too_much_memory_or_time_are_neither_imported_nor_verified() {
        let huge = "$argon2id$v=19$m=2097152,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g";
        let slow = "$argon2id$v=19$m=1024,t=1000,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g";
        let fine = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g";
        for stored in [huge, slow] {
            assert!(!is_supported_hash(stored), "{stored}");
            let phc = Phc::new(stored).expect("PHC");
            let today = Params::new(19_456, 2, 1, None).expect("params");
            assert!(!verify_argon2(b"anything", &phc, &today), "{stored}");
        }
        assert!(is_supported_hash(fine));
        // A real hash of the password, beyond the passes limit (cheap to
        // make: 8 KiB): refused although it matches; within the limit the
        // same password verifies.
        use argon2::password_hash::PasswordHasher;
        let today = Params::new(19_456, 2, 1, None).expect("params");
        for (passes, verifies) in [(MAX_STORED_ITERATIONS + 1, false), (3, true)] {
            let salt = SaltString::generate(&mut OsRng);
            let real = Argon2::new(
                Algorithm::Argon2id,
                Version::V0x13,
                Params::new(8, passes, 1, None).expect("params"),
            )
            .hash_password(b"correct horse", &salt)
            .expect("hash")
            .to_string();
            let phc = Phc::new(&real).expect("PHC");
            assert_eq!(
                verify_argon2(b"correct horse", &phc, &today),
                verifies,
                "{real}"
            );
        }
    }
}
