//! `--set key=value`: change one value of a scenario (or experiment) before it is used.
//!
//! The key is a dotted path into the TOML document. A segment that meets an array picks an
//! element by index (`links.0.delay`) or by its `name` (`links.bottleneck.delay`); a link
//! without a `name` also answers to `"<a>-<b>"`. The value is read as TOML (`20`, `0.01`,
//! `true`, `"x"`, `[1, 2]`) and, failing that, taken as a string (`20ms`), so
//! `--set links.bottleneck.delay=20ms` works without quotes.
//!
//! Setting a key the file does not have adds it; whether it is allowed is then decided by
//! the scenario's own validation, which names the key and the allowed ones.

use toml::{Table, Value};

/// Applies one `key=value` override to `doc`.
pub fn apply(doc: &mut Table, assignment: &str) -> Result<(), String> {
    let (path, raw) = assignment
        .split_once('=')
        .ok_or_else(|| "expected key=value, e.g. links.bottleneck.delay=20ms".to_owned())?;
    let segments: Vec<&str> = path.trim().split('.').collect();
    if segments.iter().any(|s| s.is_empty()) {
        return Err(format!("bad key {path:?}: empty segment"));
    }
    let (last, parents) = segments
        .split_last()
        .expect("split yields at least one segment");
    let mut table = doc;
    let mut rest = parents;
    let mut walked = String::new();
    while let Some((seg, tail)) = rest.split_first() {
        walked = if walked.is_empty() {
            (*seg).to_owned()
        } else {
            format!("{walked}.{seg}")
        };
        let next = table
            .entry((*seg).to_owned())
            .or_insert_with(|| Value::Table(Table::new()));
        (table, rest) = match next {
            Value::Table(t) => (t, tail),
            Value::Array(items) => {
                let Some((pick, tail)) = tail.split_first() else {
                    return Err(format!("{walked} is a list: name an element, then a key"));
                };
                (element(items, pick, &walked)?, tail)
            }
            _ => return Err(format!("{walked} is a value, not a table")),
        };
    }
    table.insert((*last).to_owned(), parse_value(raw.trim()));
    Ok(())
}

/// Where an array segment leads: the element with that index or `name`.
fn element<'a>(items: &'a mut [Value], pick: &str, walked: &str) -> Result<&'a mut Table, String> {
    let names: Vec<String> = items
        .iter()
        .filter_map(|v| v.as_table().map(label))
        .collect();
    let pos = match pick.parse::<usize>() {
        Ok(i) if i < items.len() => Some(i),
        Ok(_) => None,
        Err(_) => names.iter().position(|n| n == pick),
    };
    let len = items.len();
    pos.and_then(|i| items[i].as_table_mut()).ok_or_else(|| {
        format!(
            "{walked}.{pick}: no such element; use an index 0..{len} or a name: {}",
            names.join(", ")
        )
    })
}

/// An array element's name: its `name`, or `"<a>-<b>"` for an unnamed link.
fn label(t: &Table) -> String {
    if let Some(Value::String(n)) = t.get("name") {
        return n.clone();
    }
    match (t.get("a"), t.get("b")) {
        (Some(Value::String(a)), Some(Value::String(b))) => format!("{a}-{b}"),
        _ => String::new(),
    }
}

fn parse_value(raw: &str) -> Value {
    match toml::from_str::<Table>(&format!("v = {raw}")) {
        Ok(mut t) => t
            .remove("v")
            .unwrap_or_else(|| Value::String(raw.to_owned())),
        Err(_) => Value::String(raw.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> Table {
        toml::from_str(
            "duration = '1s'\n[[links]]\na = 'x'\nb = 'y'\n[[links]]\nname = 'core'\na = 'y'\nb = 'z'\n",
        )
        .unwrap()
    }

    #[test]
    fn sets_by_name_index_and_default_link_name() {
        let mut d = doc();
        apply(&mut d, "links.core.delay=20ms").unwrap();
        apply(&mut d, "links.x-y.loss=0.01").unwrap();
        apply(&mut d, "links.1.mtu=1400").unwrap();
        apply(&mut d, "seed=7").unwrap();
        let links = d["links"].as_array().unwrap();
        assert_eq!(links[1]["delay"].as_str(), Some("20ms"));
        assert_eq!(links[0]["loss"].as_float(), Some(0.01));
        assert_eq!(links[1]["mtu"].as_integer(), Some(1400));
        assert_eq!(d["seed"].as_integer(), Some(7));
    }

    #[test]
    fn bad_paths_explain_themselves() {
        let mut d = doc();
        let e = apply(&mut d, "links.nope.delay=1ms").unwrap_err();
        assert!(e.contains("x-y, core"), "{e}");
        assert!(
            apply(&mut d, "duration.x=1")
                .unwrap_err()
                .contains("not a table")
        );
        assert!(apply(&mut d, "noequals").is_err());
        assert!(apply(&mut d, "a..b=1").is_err());
    }
}
