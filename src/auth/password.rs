//! Password hashing on a fixed pool of hashing threads.
//!
//! argon2id costs tens of milliseconds of CPU and 19 MiB per hash, so it
//! never runs on the async reactor and never queues without bound: at most
//! `workers` hashes run at once and at most `queue` more wait; beyond that a
//! request is refused at once with 503 + `Retry-After` rather than letting
//! latency and memory grow. Unknown users are verified against a dummy hash
//! so timing does not reveal which accounts exist.
//!
//! The `workers` threads are the pool's own, each with argon2's working
//! memory allocated once and reused by every hash it runs. Allocating it
//! per hash on whatever blocking thread was free left up to 19 MiB behind
//! in the allocator's arena of each such thread (glibc keeps freed memory
//! per arena once its threshold for returning large blocks has grown): a
//! server that had served 20 logins held 200 MiB.

use std::cell::RefCell;
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use aggregates::PasswordHash;
use anyhow::Context;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{Output, ParamsString, PasswordHash as Phc, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::Semaphore;

use crate::input::Password;
use crate::Error;

/// The outcome of a verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    /// The password matched.
    pub ok: bool,
    /// It matched a hash made with other parameters than today's.
    pub needs_rehash: bool,
}

/// The hashing pool.
#[derive(Clone)]
pub struct Passwords {
    params: Params,
    workers: Arc<Semaphore>,
    admitted: Arc<Semaphore>,
    dummy: PasswordHash,
    /// Hashing jobs run so far (hashes and verifications, dummy ones too).
    jobs: Arc<std::sync::atomic::AtomicU64>,
    /// The hashing threads' queue (they end when the last clone is gone).
    queue: mpsc::Sender<Job>,
}

/// A job for a hashing thread.
type Job = Box<dyn FnOnce() + Send>;

thread_local! {
    /// A hashing thread's argon2 working memory, reused by its every hash.
    static MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with `blocks` blocks of argon2 memory: this thread's, kept for
/// its next hash, up to `keep` blocks (today's parameters); more (a hash
/// stored with bigger parameters) only for this call.
fn with_memory<T>(blocks: usize, keep: usize, f: impl FnOnce(&mut [Block]) -> T) -> T {
    if blocks > keep {
        let mut once = vec![Block::default(); blocks];
        return f(&mut once);
    }
    MEMORY.with(|memory| {
        let mut memory = memory.borrow_mut();
        if memory.len() < blocks {
            memory.resize(blocks, Block::default());
        }
        f(&mut memory[..blocks])
    })
}

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

/// Starts `workers` hashing threads taking jobs from one queue.
fn start_workers(workers: usize) -> anyhow::Result<mpsc::Sender<Job>> {
    let (sender, receiver) = mpsc::channel::<Job>();
    let receiver = Arc::new(Mutex::new(receiver));
    for i in 0..workers {
        let receiver = receiver.clone();
        std::thread::Builder::new()
            .name(format!("argon2-{i}"))
            .spawn(move || loop {
                let job = match receiver.lock() {
                    Ok(queue) => queue.recv(),
                    Err(_) => return,
                };
                match job {
                    Ok(job) => job(),
                    Err(_) => return,
                }
            })
            .context("starting a hashing thread")?;
    }
    Ok(sender)
}

impl std::fmt::Debug for Passwords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Passwords")
            .field("params", &self.params)
            .field("workers", &self.workers.available_permits())
            .finish_non_exhaustive()
    }
}

impl Passwords {
    /// A pool of `workers` threads with `queue` waiting places.
    pub fn new(
        memory_kib: u32,
        iterations: u32,
        parallelism: u32,
        workers: usize,
        queue: usize,
    ) -> anyhow::Result<Self> {
        let params = Params::new(memory_kib, iterations, parallelism, None)
            .map_err(|e| anyhow::anyhow!("invalid argon2 parameters: {e}"))?;
        let dummy_password: [u8; 16] = rand::random();
        let mut memory = vec![Block::default(); params.block_count()];
        let dummy = hash_with(&params, &dummy_password, &mut memory)
            .context("hashing the dummy password")?;
        drop(memory);
        Ok(Self {
            params,
            workers: Arc::new(Semaphore::new(workers.max(1))),
            admitted: Arc::new(Semaphore::new(workers.max(1) + queue)),
            dummy,
            jobs: Arc::default(),
            queue: start_workers(workers.max(1))?,
        })
    }

    /// Hashes a new password.
    pub async fn hash(&self, password: &Password) -> Result<PasswordHash, Error> {
        let params = self.params.clone();
        let password = password.clone();
        self.run(move || {
            let blocks = params.block_count();
            with_memory(blocks, blocks, |memory| {
                hash_with(&params, password.expose().as_bytes(), memory)
            })
        })
        .await?
        .map_err(Error::Internal)
    }

    /// Verifies `password` against `hash`, or against the dummy hash when
    /// there is no account (same cost; always fails).
    pub async fn verify(
        &self,
        password: &Password,
        hash: Option<&PasswordHash>,
    ) -> Result<Verified, Error> {
        let known = hash.is_some();
        let phc = hash.unwrap_or(&self.dummy).clone();
        let params = self.params.clone();
        let password = password.clone();
        let verified = self
            .run(move || {
                // A hash imported from another system: verified its way,
                // replaced by argon2id at this login.
                if let Some(legacy) = super::legacy::Legacy::parse(phc.phc()) {
                    let ok = legacy.verify(password.expose().as_bytes());
                    return Verified {
                        ok,
                        needs_rehash: ok,
                    };
                }
                let Ok(parsed) = Phc::new(phc.phc()) else {
                    return Verified {
                        ok: false,
                        needs_rehash: false,
                    };
                };
                let ok = verify_argon2(password.expose().as_bytes(), &parsed, &params);
                Verified {
                    ok,
                    needs_rehash: ok && !current(&parsed, &params),
                }
            })
            .await?;
        Ok(Verified {
            ok: verified.ok && known,
            ..verified
        })
    }

    /// Hashing jobs run so far (for metrics, and for tests that show what
    /// costs a hash and what does not).
    pub fn jobs_run(&self) -> u64 {
        self.jobs.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Jobs that may still be admitted before the pool refuses (for metrics).
    pub fn free_places(&self) -> usize {
        self.admitted.available_permits()
    }

    async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Error> {
        let admitted = self
            .admitted
            .clone()
            .try_acquire_owned()
            .map_err(|_| Error::Busy {
                retry_after: Duration::from_secs(1),
            })?;
        let worker = self
            .workers
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| Error::Internal(e.into()))?;
        // The permits travel with the job: a request cancelled mid-hash
        // (timeout, disconnect) must not free a place while its hash still
        // runs on a blocking thread.
        self.jobs.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (done, result) = tokio::sync::oneshot::channel();
        self.queue
            .send(Box::new(move || {
                let _permits = (admitted, worker);
                let _ = done.send(job());
            }))
            .map_err(|_| Error::Internal(anyhow::anyhow!("the hashing threads are gone")))?;
        result
            .await
            .map_err(|e| Error::Internal(anyhow::Error::new(e).context("hashing job")))
    }
}

/// An argon2id hash of `password` with a fresh salt, in PHC form, computed
/// in `memory` (at least `params.block_count()` blocks).
fn hash_with(
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
fn verify_argon2(password: &[u8], phc: &Phc<'_>, today: &Params) -> bool {
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
/// format ([`super::legacy`]).
pub fn is_supported_hash(hash: &str) -> bool {
    super::legacy::Legacy::parse(hash).is_some()
        || Phc::new(hash).is_ok_and(|phc| {
            phc.algorithm.as_str().starts_with("argon2") && stored_params(&phc, None).is_some()
        })
}

/// Whether a stored hash was made with today's algorithm and parameters.
fn current(parsed: &Phc<'_>, params: &Params) -> bool {
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

    fn pool(memory: u32) -> Passwords {
        Passwords::new(memory, 1, 1, 1, 1).expect("pool")
    }

    fn password(p: &str) -> Password {
        Password::presented(p.to_string(), "password").expect("valid")
    }

    #[tokio::test]
    async fn a_hash_verifies_its_password_and_no_other() {
        let pool = pool(1024);
        let hash = pool.hash(&password("correct horse")).await.expect("hash");
        assert!(hash.phc().starts_with("$argon2id$"));
        assert!(
            pool.verify(&password("correct horse"), Some(&hash))
                .await
                .expect("verify")
                .ok
        );
        assert!(
            !pool
                .verify(&password("wrong horse"), Some(&hash))
                .await
                .expect("verify")
                .ok
        );
    }

    #[tokio::test]
    async fn hashes_are_standard_argon2id_both_ways() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let pool = pool(1024);
        // Ours, checked by the argon2 crate's own verifier.
        let ours = pool.hash(&password("correct horse")).await.expect("hash");
        let parsed = Phc::new(ours.phc()).expect("PHC");
        assert!(Argon2::default()
            .verify_password(b"correct horse", &parsed)
            .is_ok());
        assert!(Argon2::default()
            .verify_password(b"wrong horse", &parsed)
            .is_err());
        // The crate's (another system's, or ours before the hashing threads
        // reused their memory), checked by ours; argon2i and older
        // parameters too.
        for (algorithm, memory) in [(Algorithm::Argon2id, 2048), (Algorithm::Argon2i, 512)] {
            let salt = SaltString::generate(&mut OsRng);
            let theirs = Argon2::new(
                algorithm,
                Version::V0x13,
                Params::new(memory, 2, 1, None).expect("params"),
            )
            .hash_password(b"correct horse", &salt)
            .expect("hash")
            .to_string();
            let theirs = PasswordHash::new(theirs);
            let verified = pool
                .verify(&password("correct horse"), Some(&theirs))
                .await
                .expect("verify");
            assert!(verified.ok && verified.needs_rehash, "{}", theirs.phc());
            assert!(
                !pool
                    .verify(&password("wrong horse"), Some(&theirs))
                    .await
                    .expect("verify")
                    .ok
            );
        }
    }

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

    #[tokio::test]
    async fn an_unknown_account_never_verifies() {
        let pool = pool(1024);
        assert!(
            !pool
                .verify(&password("anything"), None)
                .await
                .expect("verify")
                .ok
        );
    }

    #[tokio::test]
    async fn a_hash_with_old_parameters_asks_for_a_rehash() {
        let old = pool(1024)
            .hash(&password("correct horse"))
            .await
            .expect("hash");
        let verified = pool(2048)
            .verify(&password("correct horse"), Some(&old))
            .await
            .expect("verify");
        assert_eq!(
            verified,
            Verified {
                ok: true,
                needs_rehash: true
            }
        );
    }

    #[tokio::test]
    async fn a_cancelled_request_keeps_its_place_until_its_hash_is_done() {
        // Slow enough parameters that the hash outlives the request.
        let pool = Passwords::new(65536, 4, 1, 1, 0).expect("pool");
        let request = {
            let pool = pool.clone();
            tokio::spawn(async move { pool.hash(&password("correct horse")).await })
        };
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        request.abort();
        assert_eq!(pool.free_places(), 0, "the running hash's place was freed");
        assert!(matches!(
            pool.hash(&password("other")).await,
            Err(Error::Busy { .. })
        ));
        for _ in 0..200 {
            if pool.free_places() == 1 {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("the place never came back");
    }

    #[tokio::test]
    async fn a_full_queue_is_refused_with_busy() {
        let pool = pool(1024);
        // One worker + one waiting place: take both, the third is refused.
        let _a = pool.admitted.clone().try_acquire_owned().expect("first");
        let _b = pool.admitted.clone().try_acquire_owned().expect("second");
        assert!(matches!(
            pool.hash(&password("correct horse")).await,
            Err(Error::Busy { .. })
        ));
    }
}
