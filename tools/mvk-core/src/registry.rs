//! Image registries: which registry an image reference names, and the credentials for it from
//! the standard Docker client config: `$DOCKER_CONFIG/config.json`, else
//! `~/.docker/config.json`, its `auths` section (a base64 `auth` of `user:password`, or
//! `username`/`password`, or an `identitytoken`). Credential helpers (`credsStore`,
//! `credHelpers`) are not run. Messages name the registry and the file, never a secret.

use bollard::auth::DockerCredentials;
use serde_json::Value;
use std::collections::HashMap;
use std::path::PathBuf;

pub struct Config {
    pub path: PathBuf,
    json: Value,
}

/// Where the Docker client keeps its config.
pub fn config_path() -> Option<PathBuf> {
    match std::env::var_os("DOCKER_CONFIG") {
        Some(dir) if !dir.is_empty() => Some(PathBuf::from(dir).join("config.json")),
        _ => std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".docker/config.json")),
    }
}

/// The config, `None` when there is no such file.
pub fn load() -> Result<Option<Config>, String> {
    let Some(path) = config_path() else {
        return Ok(None);
    };
    let text = match std::fs::read(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(format!(
                "cannot read the Docker config {}: {e}",
                path.display()
            ))
        }
    };
    // serde_json's errors give a line and column, never the content.
    let json: Value = serde_json::from_slice(&text).map_err(|e| {
        format!(
            "the Docker config {} is not valid JSON: {e}",
            path.display()
        )
    })?;
    Ok(Some(Config { path, json }))
}

/// The registry an image reference names (`127.0.0.1:5000/shop:v1` → `127.0.0.1:5000`),
/// `docker.io` when it names none (`shop`, `team/shop:v1`).
pub fn of(reference: &str) -> String {
    split(reference).0.unwrap_or("docker.io").to_string()
}

/// A reference split as Docker splits it into registry and the rest: the first component is a
/// registry when it has a `.` or `:`, is `localhost`, or has uppercase letters.
pub fn split(reference: &str) -> (Option<&str>, &str) {
    match reference.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.chars().any(|c| c.is_ascii_uppercase()) =>
        {
            (Some(first), rest)
        }
        _ => (None, reference),
    }
}

/// The credentials for one registry, and where they came from.
pub struct Auth {
    pub registry: String,
    pub credentials: Option<DockerCredentials>,
    /// The config file the credentials came from.
    pub source: Option<PathBuf>,
}

impl Auth {
    /// The Docker config's credentials for the registry `reference` names (none when there is
    /// no config, or it has none for that registry). A config that cannot be read or a bad
    /// `auth` is an error naming the registry and the file.
    pub fn for_reference(reference: &str) -> Result<Auth, String> {
        let registry = of(reference);
        let config = load()?;
        let credentials = match &config {
            Some(config) => config.credentials(&registry)?,
            None => None,
        };
        let source = config.filter(|_| credentials.is_some()).map(|c| c.path);
        Ok(Auth {
            registry,
            credentials,
            source,
        })
    }

    /// `credentials from /root/.docker/config.json` or `no credentials`, for progress lines.
    pub fn describe(&self) -> String {
        match &self.source {
            Some(path) => format!("credentials from {}", path.display()),
            None => "no credentials".into(),
        }
    }
}

/// `https://index.docker.io/v1/`, `http://host:5000/v2`, `host:5000` → the bare host[:port],
/// with Docker Hub's aliases folded into `docker.io`.
pub fn normalize(key: &str) -> String {
    let key = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let host = key.split('/').next().unwrap_or(key).to_ascii_lowercase();
    match host.as_str() {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => {
            "docker.io".into()
        }
        _ => host,
    }
}

impl Config {
    /// The credentials for `registry` (a host[:port] or `docker.io`), if the config has any.
    pub fn credentials(&self, registry: &str) -> Result<Option<DockerCredentials>, String> {
        let want = normalize(registry);
        let Some(auths) = self.json.get("auths").and_then(Value::as_object) else {
            return Ok(None);
        };
        let Some((key, entry)) = auths.iter().find(|(k, _)| normalize(k) == want) else {
            return Ok(None);
        };
        let field = |name: &str| {
            entry
                .get(name)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        let mut creds = DockerCredentials {
            serveraddress: Some(key.clone()),
            username: field("username"),
            password: field("password"),
            identitytoken: field("identitytoken"),
            ..Default::default()
        };
        if let Some(auth) = field("auth") {
            let bad = || {
                format!(
                    "the `auth` of {registry} in {} is not base64 of user:password",
                    self.path.display()
                )
            };
            let decoded = base64_decode(auth.trim()).ok_or_else(bad)?;
            let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
            let (user, password) = decoded.split_once(':').ok_or_else(bad)?;
            creds.username = Some(user.to_string());
            creds.password = Some(password.to_string());
        }
        let usable = creds.identitytoken.is_some() || creds.username.is_some();
        Ok(usable.then_some(creds))
    }

    /// Every registry's usable credentials, for pulling base images during a build.
    pub fn all(&self) -> HashMap<String, DockerCredentials> {
        let keys = self
            .json
            .get("auths")
            .and_then(Value::as_object)
            .map(|a| a.keys().cloned().collect::<Vec<_>>());
        keys.unwrap_or_default()
            .into_iter()
            .filter_map(|k| Some((k.clone(), self.credentials(&k).ok()??)))
            .collect()
    }
}

/// Standard base64 with optional padding; `None` for anything else.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let bytes = text.trim_end_matches('=').as_bytes();
    if bytes.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut acc = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            acc |= u32::from(value(c)?) << (18 - 6 * i);
        }
        out.extend_from_slice(&acc.to_be_bytes()[1..chunk.len()]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(json: Value) -> Config {
        Config {
            path: "/x/config.json".into(),
            json,
        }
    }

    #[test]
    fn registries() {
        assert_eq!(of("shop"), "docker.io");
        assert_eq!(of("team/shop"), "docker.io");
        assert_eq!(of("shop:v1"), "docker.io");
        assert_eq!(of("127.0.0.1:5000/shop"), "127.0.0.1:5000");
        assert_eq!(of("127.0.0.1:5000/shop:v1"), "127.0.0.1:5000");
        assert_eq!(of("registry.example.com/team/shop"), "registry.example.com");
        assert_eq!(of("localhost/shop"), "localhost");
        assert_eq!(split("team/shop"), (None, "team/shop"));
        assert_eq!(split("r.io/team/shop"), (Some("r.io"), "team/shop"));
    }

    #[test]
    fn decodes_base64() {
        assert_eq!(base64_decode("dXNlcjpwYXNz").unwrap(), b"user:pass");
        assert_eq!(base64_decode("dXNlcjpwYXNzMQ==").unwrap(), b"user:pass1");
        assert_eq!(base64_decode("dXNlcjpwYXNzMTI=").unwrap(), b"user:pass12");
        assert_eq!(base64_decode("").unwrap(), b"");
        assert!(base64_decode("dXNl*").is_none());
        assert!(base64_decode("a").is_none());
    }

    #[test]
    fn finds_credentials_by_registry() {
        let c = config(json!({"auths": {
            "127.0.0.1:5000": {"auth": "dXNlcjpzM2NyZXQ="},
            "https://index.docker.io/v1/": {"username": "hub", "password": "pw"},
            "http://registry.example.com/v2/": {"identitytoken": "tok"},
            "empty.example.com": {}
        }}));
        let local = c.credentials("127.0.0.1:5000").unwrap().unwrap();
        assert_eq!(
            (local.username.as_deref(), local.password.as_deref()),
            (Some("user"), Some("s3cret"))
        );
        let hub = c.credentials("docker.io").unwrap().unwrap();
        assert_eq!(hub.username.as_deref(), Some("hub"));
        assert_eq!(
            hub.serveraddress.as_deref(),
            Some("https://index.docker.io/v1/")
        );
        assert_eq!(
            c.credentials("registry.example.com")
                .unwrap()
                .unwrap()
                .identitytoken
                .as_deref(),
            Some("tok")
        );
        assert!(c.credentials("empty.example.com").unwrap().is_none());
        assert!(c.credentials("other:5000").unwrap().is_none());
        assert_eq!(c.all().len(), 3);
    }

    #[test]
    fn a_bad_auth_names_the_registry_not_the_secret() {
        let c = config(json!({"auths": {"r.example.com": {"auth": "bm9jb2xvbg=="}}}));
        let err = c.credentials("r.example.com").unwrap_err();
        assert!(
            err.contains("r.example.com")
                && !err.contains("bm9jb2xvbg")
                && !err.contains("nocolon"),
            "{err}"
        );
    }
}
