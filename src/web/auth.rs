//! HTTP basic auth against bcrypt hashes, as exporter-toolkit does it: an unknown user is
//! checked against a dummy hash of the same cost as the users' hashes, so that it takes as long
//! as a wrong password; successes are cached (keyed by a salted digest, never the password
//! itself) so that a scrape does not pay for bcrypt every time; and bcrypt runs off the async
//! threads, a few at a time.
//!
//! A flood of wrong passwords must not lock out the real scraper: failures are cached apart from
//! successes (so they never evict Prometheus' cached success), and at most a few checks wait for
//! bcrypt; past that a request is answered at once with [`Verdict::Busy`] (HTTP 429) instead of
//! queueing without bound.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use base64::Engine;
use hyper::header::HeaderValue;
use tokio::sync::Semaphore;

/// A bcrypt hash (cost 10) of a string no one knows, should hashing a fresh one fail.
const DUMMY_HASH: &str = "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi";
/// The dummy's cost follows the users' hashes up to this (cost 16 already takes seconds).
const MAX_DUMMY_COST: u32 = 16;
/// Cached successes: only right passwords of known users get here, so few are ever needed.
const SUCCESS_ENTRIES: usize = 1024;
/// Cached failures, cleared when full (which costs nothing but bcrypt for repeats).
const FAILURE_ENTRIES: usize = 4096;
const CONCURRENT_BCRYPT: usize = 4;
/// Checks that may wait for a bcrypt slot; more are answered at once.
const MAX_WAITING: usize = 32;

/// The answer to an `Authorization` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    Denied,
    /// Too many checks already wait for bcrypt: try again later (HTTP 429).
    Busy,
}

#[derive(Debug)]
pub struct BasicAuth {
    users: HashMap<String, String>,
    dummy: String,
    salt: [u8; 32],
    successes: Mutex<HashMap<[u8; 32], ()>>,
    failures: Mutex<HashMap<[u8; 32], ()>>,
    bcrypt_permits: Semaphore,
    waiting: AtomicUsize,
    verifications: AtomicU64,
}

/// A place among the checks waiting for bcrypt, given back when dropped.
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl BasicAuth {
    /// `users` maps user names to bcrypt hashes.
    pub fn new(users: HashMap<String, String>) -> BasicAuth {
        let cost = users.values().filter_map(|h| bcrypt_cost(h).ok()).max().unwrap_or(10);
        let secret = format!("{:032x}", rand::random::<u128>());
        let dummy = bcrypt::hash(secret, cost.clamp(4, MAX_DUMMY_COST)).unwrap_or_else(|_| DUMMY_HASH.to_owned());
        BasicAuth {
            users,
            dummy,
            salt: rand::random(),
            successes: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
            bcrypt_permits: Semaphore::new(CONCURRENT_BCRYPT),
            waiting: AtomicUsize::new(0),
            verifications: AtomicU64::new(0),
        }
    }

    /// Whether an `Authorization` header carries a known user and the right password.
    pub async fn authorized(&self, header: Option<&HeaderValue>) -> bool {
        self.check(header).await == Verdict::Allowed
    }

    /// Checks an `Authorization` header.
    pub async fn check(&self, header: Option<&HeaderValue>) -> Verdict {
        let Some((user, password)) = header.and_then(credentials) else { return Verdict::Denied };
        let key = self.cache_key(&user, &password);
        if lock(&self.successes).contains_key(&key) {
            return Verdict::Allowed;
        }
        if lock(&self.failures).contains_key(&key) {
            return Verdict::Denied;
        }
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= MAX_WAITING + CONCURRENT_BCRYPT {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return Verdict::Busy;
        }
        let _waiting = Waiting(&self.waiting);
        let (hash, exists) = match self.users.get(&user) {
            Some(hash) => (hash.clone(), true),
            None => (self.dummy.clone(), false),
        };
        let Ok(_permit) = self.bcrypt_permits.acquire().await else { return Verdict::Denied };
        self.verifications.fetch_add(1, Ordering::Relaxed);
        let matches = tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash).unwrap_or(false))
            .await
            .unwrap_or(false);
        if matches && exists {
            let mut successes = lock(&self.successes);
            if successes.len() < SUCCESS_ENTRIES {
                successes.insert(key, ());
            }
            Verdict::Allowed
        } else {
            let mut failures = lock(&self.failures);
            if failures.len() >= FAILURE_ENTRIES {
                failures.clear();
            }
            failures.insert(key, ());
            Verdict::Denied
        }
    }

    /// bcrypt verifications run so far.
    pub fn verifications(&self) -> u64 {
        self.verifications.load(Ordering::Relaxed)
    }

    fn cache_key(&self, user: &str, password: &str) -> [u8; 32] {
        let mut context = ring::digest::Context::new(&ring::digest::SHA256);
        context.update(&self.salt);
        context.update(&(user.len() as u64).to_be_bytes());
        context.update(user.as_bytes());
        context.update(password.as_bytes());
        let mut key = [0; 32];
        key.copy_from_slice(context.finish().as_ref());
        key
    }
}

/// The cost of a bcrypt hash, checked as Go's `bcrypt.Cost` checks it (which is what promtool
/// does): a `$`, a major version of at most 2, an optional minor letter, a two-digit cost from 4
/// to 31, and at least 59 characters in all.
pub fn bcrypt_cost(hash: &str) -> Result<u32, String> {
    let bytes = hash.as_bytes();
    if bytes.len() < 59 {
        return Err("hashedSecret too short to be a bcrypted password".to_owned());
    }
    if bytes[0] != b'$' {
        return Err(format!("bcrypt hashes must start with '$', but hashedSecret started with '{}'", bytes[0] as char));
    }
    if bytes[1] > b'2' {
        return Err(format!(
            "bcrypt algorithm version '{}' requested is newer than current version '2'",
            bytes[1] as char
        ));
    }
    let cost_at = if bytes[2] == b'$' { 3 } else { 4 };
    let cost = std::str::from_utf8(&bytes[cost_at..cost_at + 2]).unwrap_or("");
    let cost: u32 = cost.parse().map_err(|_| format!("strconv.Atoi: parsing {cost:?}: invalid syntax"))?;
    if !(4..=31).contains(&cost) {
        return Err(format!("cost {cost} is outside allowed range (4,31)"));
    }
    Ok(cost)
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A set of digests cannot be left half-changed: a poisoned lock is still good.
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// The user and password of a `Basic` authorization header.
fn credentials(header: &HeaderValue) -> Option<(String, String)> {
    let value = header.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(user: &str, password: &str) -> HeaderValue {
        let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        HeaderValue::from_str(&format!("Basic {encoded}")).unwrap()
    }

    #[tokio::test]
    async fn checks_users_and_passwords() {
        let hash = bcrypt::hash("s3cret:with:colons", 4).unwrap();
        let auth = BasicAuth::new(HashMap::from([("alice".to_owned(), hash)]));
        assert!(auth.authorized(Some(&header("alice", "s3cret:with:colons"))).await);
        assert!(auth.authorized(Some(&header("alice", "s3cret:with:colons"))).await, "cached");
        assert!(!auth.authorized(Some(&header("alice", "wrong"))).await);
        assert!(!auth.authorized(Some(&header("bob", "s3cret:with:colons"))).await);
        assert!(!auth.authorized(None).await);
        assert!(!auth.authorized(Some(&HeaderValue::from_static("Bearer abc"))).await);
        assert!(!auth.authorized(Some(&HeaderValue::from_static("Basic !!!"))).await);
    }

    #[test]
    fn bcrypt_costs_as_go_reads_them() {
        let hash = "$2y$10$BvuYy7ScTbUrsmvU0rnpFOdgZ0oEE8hJ3NcNnWD9B4jzqo1rWlJn.";
        assert_eq!(bcrypt_cost(hash), Ok(10));
        assert_eq!(bcrypt_cost(&hash[..59]), Ok(10));
        assert!(bcrypt_cost("notahash").unwrap_err().contains("too short"));
        assert!(bcrypt_cost(&hash.replace("$2y$10", "$2y$03")).unwrap_err().contains("cost 3 is outside"));
        assert!(bcrypt_cost(&hash.replace("$2y$", "$3a$")).unwrap_err().contains("newer"));
        assert!(bcrypt_cost(&hash.replace("$2y$10", "$2y$1a")).unwrap_err().contains("invalid syntax"));
    }

    #[tokio::test]
    async fn a_flood_of_wrong_passwords_never_evicts_a_cached_success() {
        let hash = bcrypt::hash("right", 4).unwrap();
        let auth = BasicAuth::new(HashMap::from([("prometheus".to_owned(), hash)]));
        assert_eq!(auth.check(Some(&header("prometheus", "right"))).await, Verdict::Allowed);
        // More than the 1,024 entries at which the cache of successes and failures together
        // used to be cleared.
        for i in 0..1_100 {
            assert_eq!(auth.check(Some(&header("prometheus", &format!("wrong-{i}")))).await, Verdict::Denied);
        }
        let before = auth.verifications();
        assert_eq!(auth.check(Some(&header("prometheus", "right"))).await, Verdict::Allowed);
        assert_eq!(auth.verifications(), before, "the success was still cached: no bcrypt");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn past_a_few_waiting_checks_a_request_is_answered_busy_at_once() {
        let hash = bcrypt::hash("right", 8).unwrap();
        let auth = std::sync::Arc::new(BasicAuth::new(HashMap::from([("prometheus".to_owned(), hash)])));
        let mut checks = tokio::task::JoinSet::new();
        for i in 0..200 {
            let auth = auth.clone();
            checks.spawn(async move { auth.check(Some(&header("prometheus", &format!("wrong-{i}")))).await });
        }
        let verdicts = checks.join_all().await;
        let busy = verdicts.iter().filter(|v| **v == Verdict::Busy).count();
        let denied = verdicts.iter().filter(|v| **v == Verdict::Denied).count();
        assert_eq!(busy + denied, 200);
        assert!(denied >= MAX_WAITING + CONCURRENT_BCRYPT && busy > 0, "{denied} denied, {busy} busy");
        assert_eq!(auth.verifications(), denied as u64);
    }

    #[test]
    fn the_dummy_hash_costs_what_the_users_hashes_cost() {
        assert_eq!(bcrypt_cost(DUMMY_HASH), Ok(10));
        let users = HashMap::from([
            ("a".to_owned(), bcrypt::hash("x", 5).unwrap()),
            ("b".to_owned(), bcrypt::hash("y", 6).unwrap()),
        ]);
        let auth = BasicAuth::new(users);
        assert_eq!(bcrypt_cost(&auth.dummy), Ok(6));
        assert!(!bcrypt::verify("", &auth.dummy).unwrap());
    }
}
