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
    use ::config::{Source as _, Value, ValueKind};
    let defaults = ::config::Config::try_from(&T::default())?;
    let mut builder = ::config::Config::builder().add_source(defaults);
    if let Some(path) = file {
        anyhow::ensure!(path.exists(), "configuration file {} not found", path.display());
        let source = ::config::File::from(path);
        no_subscripts(&source.collect()?, &format!("configuration file {}", path.display()))?;
        builder = builder.add_source(source);
    }
    let env_prefix = format!("VRS_{}", prefix.to_ascii_uppercase());
    // Settings that are lists take comma-separated values from the environment
    // (`…__PORTAL_CLIENT_NAMES=portal,portal-b`); every other value stays a
    // string, read by its field's type when deserialised: a string setting
    // `007` stays `007` (not 7), `1e3` stays `1e3` (not 1000), and a list of
    // one name that looks like a number is still a list.
    let mut list_keys = Vec::new();
    array_paths(&serde_json::to_value(T::default())?, "", &mut list_keys);
    let mut vars = ::config::Environment::with_prefix(&env_prefix)
        .prefix_separator("__")
        .separator("__")
        .source(Some(env))
        .collect()?;
    no_subscripts(&vars, "the environment")?;
    for key in &list_keys {
        if let Some(value) = vars.get_mut(key) {
            let origin = value.origin().map(str::to_owned);
            let text = value.clone().into_string()?;
            let items = text
                .split(',')
                .map(|item| Value::new(origin.as_ref(), ValueKind::String(item.to_owned())))
                .collect();
            *value = Value::new(origin.as_ref(), ValueKind::Array(items));
        }
    }
    builder = builder.add_source(Settings(vars));
    Ok(builder.build()?.try_deserialize()?)
}

/// Settings already read (the environment's, lists split), as a source.
#[derive(Debug, Clone)]
struct Settings(::config::Map<String, ::config::Value>);

impl ::config::Source for Settings {
    fn clone_into_box(&self) -> Box<dyn ::config::Source + Send + Sync> {
        Box::new(self.clone())
    }

    fn collect(&self) -> Result<::config::Map<String, ::config::Value>, ::config::ConfigError> {
        Ok(self.0.clone())
    }
}

/// Refuses a setting whose key has a subscript (`names[4000000000]`): the
/// `config` crate would grow a list to that index, allocating in proportion
/// to a number in the input (or panicking on an overflowing one). Lists are
/// written whole: TOML arrays, or comma-separated variables.
fn no_subscripts(settings: &::config::Map<String, ::config::Value>, what: &str) -> anyhow::Result<()> {
    match settings.keys().find(|key| key.contains('[')) {
        Some(key) => anyhow::bail!("{what}: setting {key:?} has a subscript; write lists whole"),
        None => Ok(()),
    }
}

/// The dotted paths (`auth.portal_client_names`) of every list in `value`.
fn array_paths(value: &serde_json::Value, path: &str, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Array(_) => out.push(path.to_owned()),
        serde_json::Value::Object(fields) => {
            for (name, v) in fields {
                let p = if path.is_empty() {
                    name.clone()
                } else {
                    format!("{path}.{name}")
                };
                array_paths(v, &p, out);
            }
        }
        _ => {}
    }
}

/// The `--config FILE` (or `--config=FILE`) argument of a service binary, if given.
pub fn file_from_args() -> anyhow::Result<Option<PathBuf>> {
    Ok(file_and_flags_from_args(&[])?.0)
}

/// `--config FILE` and which of `flags` (e.g. `--migrate-only`) were given.
pub fn file_and_flags_from_args(flags: &[&str]) -> anyhow::Result<(Option<PathBuf>, Vec<String>)> {
    let mut args = std::env::args();
    let program = args.next().unwrap_or_default();
    let program = Path::new(&program)
        .file_name()
        .map_or_else(|| "service".to_string(), |name| name.to_string_lossy().into_owned());
    file_from(&program, args, flags)
}

/// Parses the arguments after the program name; the last `--config` wins.
fn file_from(
    program: &str,
    mut args: impl Iterator<Item = String>,
    flags: &[&str],
) -> anyhow::Result<(Option<PathBuf>, Vec<String>)> {
    let mut file = None;
    let mut given = Vec::new();
    while let Some(arg) = args.next() {
        if arg == "--config" {
            let path = args.next().ok_or_else(|| anyhow::anyhow!("--config needs a file"))?;
            file = Some(path.into());
        } else if let Some(path) = arg.strip_prefix("--config=") {
            file = Some(path.into());
        } else if flags.contains(&arg.as_str()) {
            given.push(arg);
        } else {
            let usage: Vec<String> = flags.iter().map(|f| format!(" [{f}]")).collect();
            anyhow::bail!(
                "unknown argument {arg:?}; usage: {program} [--config FILE]{}",
                usage.concat()
            );
        }
    }
    Ok((file, given))
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
        names: Vec<String>,
    }
    impl Default for Server {
        fn default() -> Self {
            Server {
                listen: "127.0.0.1:1".into(),
                latency_ms: 0,
                names: vec!["a".into()],
            }
        }
    }

    #[test]
    fn lists_come_from_comma_separated_variables_and_strings_stay_strings() -> anyhow::Result<()> {
        let env = HashMap::from([
            ("VRS_X__SERVER__NAMES".to_string(), "portal,portal-b".to_string()),
            ("VRS_X__SERVER__LISTEN".to_string(), "0.0.0.0:1,2".to_string()),
        ]);
        let cfg: Cfg = load_from("x", None, env)?;
        assert_eq!(cfg.server.names, ["portal", "portal-b"]);
        assert_eq!(cfg.server.listen, "0.0.0.0:1,2", "a comma in a string is just a comma");
        let one: Cfg = load_from(
            "x",
            None,
            HashMap::from([("VRS_X__SERVER__NAMES".to_string(), "portal".to_string())]),
        )?;
        assert_eq!(one.server.names, ["portal"]);
        Ok(())
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

    /// Regression (found by tests/props.rs): environment values were parsed
    /// as numbers or booleans before their field's type was known, so a string
    /// setting `007` became `7` and `1e3` became `1000`, and a list of one
    /// number-like name (`…__NAMES=0`) failed to load.
    #[test]
    fn environment_strings_are_not_reparsed() -> anyhow::Result<()> {
        let env = HashMap::from([
            ("VRS_X__SERVER__LISTEN".to_string(), "007".to_string()),
            ("VRS_X__SERVER__NAMES".to_string(), "0".to_string()),
            ("VRS_X__SERVER__LATENCY_MS".to_string(), "25".to_string()),
        ]);
        let cfg: Cfg = load_from("x", None, env)?;
        assert_eq!(cfg.server.listen, "007");
        assert_eq!(cfg.server.names, ["0"]);
        assert_eq!(cfg.server.latency_ms, 25);
        let cfg: Cfg = load_from(
            "x",
            None,
            HashMap::from([("VRS_X__SERVER__LISTEN".to_string(), "1e3".to_string())]),
        )?;
        assert_eq!(cfg.server.listen, "1e3");
        Ok(())
    }

    /// Regression (found by tests/props.rs): a key with a subscript made the
    /// `config` crate grow a list to the index: a panic for an overflowing
    /// index, an allocation of hundreds of GB for `x[4000000000]`. Only
    /// overflowing indices here (they fail before allocating even unfixed);
    /// the huge ones run in tests/props.rs under a memory cap.
    #[test]
    fn keys_with_subscripts_are_refused() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("cfg.toml");
        std::fs::write(&path, "\"x[9223372036854775807]\" = 1\n")?;
        let r: anyhow::Result<Cfg> = load_from("x", Some(&path), HashMap::new());
        assert!(r.is_err_and(|e| e.to_string().contains("subscript")));
        let env = HashMap::from([("VRS_X__SERVER[9223372036854775807]".to_string(), "a".to_string())]);
        let r: anyhow::Result<Cfg> = load_from("x", None, env);
        assert!(r.is_err_and(|e| e.to_string().contains("subscript")));
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
        let file = |a: &[&str]| file_from("svc", args(a), &[]).map(|(f, _)| f);
        assert_eq!(file(&[])?, None);
        assert_eq!(file(&["--config", "a.toml"])?, Some(PathBuf::from("a.toml")));
        assert_eq!(file(&["--config=b.toml"])?, Some(PathBuf::from("b.toml")));
        assert_eq!(
            file(&["--config", "a.toml", "--config=b.toml"])?,
            Some(PathBuf::from("b.toml"))
        );
        assert!(file(&["--config"]).is_err());
        let err = file(&["-c", "a.toml"]).err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("unknown argument \"-c\"; usage: svc [--config FILE]")
        );
        // A binary's own flags are accepted and reported, others still refused.
        let (f, flags) = file_from("svc", args(&["--migrate-only", "--config=c.toml"]), &["--migrate-only"])?;
        assert_eq!(
            (f, flags),
            (Some(PathBuf::from("c.toml")), vec!["--migrate-only".to_string()])
        );
        assert!(file_from("svc", args(&["--migrate-only"]), &[]).is_err());
        Ok(())
    }
}
