//! `${VAR}` and `${VAR:-default}` in a pipeline file's strings, taken from the environment.

/// Replaces `${VAR}` and `${VAR:-default}` in every string below `value`.
pub(super) fn expand_env(
    value: &mut toml::Value,
    path: &mut String,
    env: &dyn Fn(&str) -> Option<String>,
    report: &mut dyn FnMut(&str, String),
) {
    match value {
        toml::Value::String(s) if s.contains("${") => match expand_str(s, env) {
            Ok(expanded) => *s = expanded,
            Err(message) => report(path, message),
        },
        toml::Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                expand_env(item, path, env, report);
                path.truncate(len);
            }
        }
        toml::Value::Table(table) => {
            for (key, item) in table.iter_mut() {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
                expand_env(item, path, env, report);
                path.truncate(len);
            }
        }
        _ => {}
    }
}

fn expand_str(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("unclosed '${{' in {text:?}"))?;
        let reference = &after[..end];
        let (name, default) = match reference.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (reference, None),
        };
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(format!("'${{{reference}}}' is not a variable name"));
        }
        // `${VAR:-default}` also uses the default when VAR is set but empty, as the shell does.
        let value = env(name).filter(|v| !v.is_empty() || default.is_none());
        match (value, default) {
            (Some(value), _) => out.push_str(&value),
            (None, Some(default)) => out.push_str(default),
            (None, None) => {
                return Err(format!(
                    "environment variable {name} is not set (write ${{{name}:-default}} for a default)"
                ));
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}
