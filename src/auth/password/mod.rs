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
//!
//! This file is the pool; `phc` makes and checks the argon2 hashes it runs.

mod phc;

use std::cell::RefCell;
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use aggregates::PasswordHash;
use anyhow::Context;
use argon2::password_hash::PasswordHash as Phc;
use argon2::{Block, Params};
use tokio::sync::Semaphore;

use crate::input::Password;
use crate::Error;
use phc::{current, hash_with, verify_argon2};

pub use phc::is_supported_hash;

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

#[cfg(test)]
mod tests {
    use super::*;

    use argon2::password_hash::rand_core::OsRng;
    use argon2::password_hash::SaltString;
    use argon2::{Algorithm, Argon2, Version};

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
