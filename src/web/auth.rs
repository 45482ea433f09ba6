//! HTTP basic auth against bcrypt hashes, as exporter-toolkit does it: an unknown user is
//! checked against a dummy hash of the same cost as the users' hashes, so that it takes as long
//! as a wrong password; results are
//! cached (keyed by a salted digest, never the password itself) so that a scrape does not pay
//! for bcrypt every time; and bcrypt runs off the async threads, a few at a time.

use std::collections::HashMap;
use std::sync::Mutex;

use base64::Engine;
use hyper::header::HeaderValue;
use tokio::sync::Semaphore;

/// A bcrypt hash (cost 10) of a string no one knows, should hashing a fresh one fail.
const DUMMY_HASH: &str = "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi";
/// The dummy's cost follows the users' hashes up to this (cost 16 already takes seconds).
const MAX_DUMMY_COST: u32 = 16;
const CACHE_ENTRIES: usize = 1024;
const CONCURRENT_BCRYPT: usize = 4;

#[derive(Debug)]
pub struct BasicAuth {
    users: HashMap<String, String>,
    dummy: String,
    salt: [u8; 32],
    cache: Mutex<HashMap<[u8; 32], bool>>,
    bcrypt_permits: Semaphore,
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
            cache: Mutex::new(HashMap::new()),
            bcrypt_permits: Semaphore::new(CONCURRENT_BCRYPT),
        }
    }

    /// Whether an `Authorization` header carries a known user and the right password.
    pub async fn authorized(&self, header: Option<&HeaderValue>) -> bool {
        let Some((user, password)) = header.and_then(credentials) else { return false };
        let key = self.cache_key(&user, &password);
        if let Some(&known) = self.cache.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
            return known;
        }
        let (hash, exists) = match self.users.get(&user) {
            Some(hash) => (hash.clone(), true),
            None => (self.dummy.clone(), false),
        };
        let Ok(_permit) = self.bcrypt_permits.acquire().await else { return false };
        let matches = tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash).unwrap_or(false))
            .await
            .unwrap_or(false);
        let ok = matches && exists;
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= CACHE_ENTRIES {
            cache.clear();
        }
        cache.insert(key, ok);
        ok
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
