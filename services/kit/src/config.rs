//! Layered, typed configuration.
//!
//! Each service has a `Config` struct whose `Default` is a working local setup.
//! [`load`] layers an optional TOML file and environment variables over it:
//! `VRS_<PREFIX>__<SECTION>__<KEY>` (e.g. `VRS_REGISTRATION__DATABASE__URL`),
//! which is what Kubernetes ConfigMaps and Secrets set. [`load_from`] takes the
//! environment as a map so tests never mutate the process environment.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Serialize, de::DeserializeOwned};

/// Loads `T` from its defaults, the optional `file`, and the process environment.
pub fn load<T>(prefix: &str, file: Option<&Path>) -> anyhow::Result<T>
where
    T: Default + Serialize + DeserializeOwned,
{
    load_from(prefix, file, std::env::vars().collect())
}

/// Like [`load`], with the environment given explicitly.
pub fn load_from<T>(prefix: &str, file: Option<&Path>, env: HashMap<String, String>) -> anyhow::Result<T>
where
    T: Default + Serialize + DeserializeOwned,
{
    let defaults = ::config::Config::try_from(&T::default())?;
    let mut builder = ::config::Config::builder().add_source(defaults);
    if let Some(path) = file {
        anyhow::ensure!(path.exists(), "configuration file {} not found", path.display());
        builder = builder.add_source(::config::File::from(path));
    }
    let env_prefix = format!("VRS_{}", prefix.to_ascii_uppercase());
    builder = builder.add_source(
        ::config::Environment::with_prefix(&env_prefix)
            .prefix_separator("__")
            .separator("__")
            .try_parsing(true)
            .source(Some(env)),
    );
    Ok(builder.build()?.try_deserialize()?)
}

/// The `--config FILE` (or `--config=FILE`) argument of a service binary, if given.
pub fn file_from_args() -> anyhow::Result<Option<PathBuf>> {
    let mut args = std::env::args();
    let program = args.next().unwrap_or_default();
    let program = Path::new(&program)
        .file_name()
        .map_or_else(|| "service".to_string(), |name| name.to_string_lossy().into_owned());
    file_from(&program, args)
}

/// Parses the arguments after the program name; the last `--config` wins.
fn file_from(program: &str, mut args: impl Iterator<Item = String>) -> anyhow::Result<Option<PathBuf>> {
    let mut file = None;
    while let Some(arg) = args.next() {
        if arg == "--config" {
            let path = args.next().ok_or_else(|| anyhow::anyhow!("--config needs a file"))?;
            file = Some(path.into());
        } else if let Some(path) = arg.strip_prefix("--config=") {
            file = Some(path.into());
        } else {
            anyhow::bail!("unknown argument {arg:?}; usage: {program} [--config FILE]");
        }
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Default, Serialize, Deserialize, PartialEq)]
    #[serde(default)]
    struct Cfg {
        server: Server,
    }
    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    #[serde(default)]
    struct Server {
        listen: String,
        latency_ms: u64,
    }
    impl Default for Server {
        fn default() -> Self {
            Server {
                listen: "127.0.0.1:1".into(),
                latency_ms: 0,
            }
        }
    }

    #[test]
    fn defaults_then_environment() -> anyhow::Result<()> {
        let cfg: Cfg = load_from("x", None, HashMap::new())?;
        assert_eq!(cfg, Cfg::default());
        let env = HashMap::from([
            ("VRS_X__SERVER__LATENCY_MS".to_string(), "25".to_string()),
            ("VRS_OTHER__SERVER__LATENCY_MS".to_string(), "99".to_string()),
        ]);
        let cfg: Cfg = load_from("x", None, env)?;
        assert_eq!(cfg.server.latency_ms, 25);
        assert_eq!(cfg.server.listen, "127.0.0.1:1");
        Ok(())
    }

    #[test]
    fn missing_file_is_an_error() {
        let r: anyhow::Result<Cfg> = load_from("x", Some(Path::new("/nonexistent/vrs.toml")), HashMap::new());
        assert!(r.is_err());
    }

    #[test]
    fn config_argument_in_both_spellings() -> anyhow::Result<()> {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>().into_iter();
        assert_eq!(file_from("svc", args(&[]))?, None);
        assert_eq!(
            file_from("svc", args(&["--config", "a.toml"]))?,
            Some(PathBuf::from("a.toml"))
        );
        assert_eq!(
            file_from("svc", args(&["--config=b.toml"]))?,
            Some(PathBuf::from("b.toml"))
        );
        assert_eq!(
            file_from("svc", args(&["--config", "a.toml", "--config=b.toml"]))?,
            Some(PathBuf::from("b.toml"))
        );
        assert!(file_from("svc", args(&["--config"])).is_err());
        let err = file_from("svc", args(&["-c", "a.toml"])).err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("unknown argument \"-c\"; usage: svc [--config FILE]")
        );
        Ok(())
    }
}
