//! `ikesim plot`: line plots with bands, CDFs and time series from a merged sweep and from a
//! single run, as PNG and SVG files that decode, and byte-identical when drawn again.

#![allow(clippy::unwrap_used, reason = "test helpers panic on broken set-up")]

mod common;

use common::{TempDir, ikesim, ok, tempdir};

use std::path::Path;

const TINY: &str = r#"
name = "tiny"
duration = "1s"

[[nodes]]
kind = "udp-source"
name = "src"
src = "10.0.0.1:5000"
dst = "10.0.1.1:5000"
rate = "8Mbps"
size = 1000
on = "100ms"
off = "100ms"

[[nodes]]
kind = "hub"
name = "left"

[[nodes]]
kind = "udp-sink"
name = "sink"
address = "10.0.1.1"

[[nodes]]
kind = "udp-sink"
name = "sink2"
address = "10.0.1.2"

[[links]]
a = "src"
b = "left"
rate = "100Mbps"
delay = "1ms"

[[links]]
a = "left"
b = "sink2"
rate = "100Mbps"
delay = "1ms"

[[links]]
name = "bottleneck"
a = "left"
b = "sink"
rate = "5Mbps"
delay = "5ms"
queue_packets = 20
"#;

const EXP: &str = r#"
scenario = "tiny.toml"
seeds = 2
metrics = ["sink:delay_ns.p99", "bottleneck:left>sink:dropped_queue"]

[set]
queue_series = ["bottleneck"]

[axes]
"links.bottleneck.queue_packets" = [5, 20]
"nodes.src.rate" = ["4Mbps", "8Mbps"]

[[plots]]
name = "drops"
kind = "line"
x = "links.bottleneck.queue_packets"
y = "bottleneck:left>sink:dropped_queue"
group = "nodes.src.rate"
y_scale = 1e-3
y_label = "thousands of drops"

[[plots]]
name = "drops-cdf"
kind = "cdf"
y = "bottleneck:left>sink:dropped_queue"
group = "nodes.src.rate"

[[plots]]
name = "queue"
kind = "series"
y = "bottleneck:left>sink:queue_packets"
filter = { seed = 1, "nodes.src.rate" = "8Mbps" }
x_scale = 1e-9
"#;

/// A folder (removed when dropped) with `tiny.toml` and `exp.toml`.
fn setup(tag: &str) -> TempDir {
    let dir = tempdir(&format!("plot-{tag}"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("tiny.toml"), TINY).unwrap();
    std::fs::write(dir.join("exp.toml"), EXP).unwrap();
    dir
}

/// Decodes a PNG whole and returns its size.
fn png_size(path: &Path) -> (u32, u32) {
    let decoder = png::Decoder::new(std::fs::File::open(path).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    // Not a blank page: several colours.
    let mut colours: Vec<&[u8]> = buf[..info.buffer_size()].chunks(3).collect();
    colours.sort_unstable();
    colours.dedup();
    assert!(colours.len() > 3, "{}: blank image", path.display());
    (info.width, info.height)
}

/// Checks that an SVG file is well-formed XML (balanced tags) with an `<svg>` root and
/// returns its text.
fn svg_text(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(
        text.starts_with("<svg") && text.trim_end().ends_with("</svg>"),
        "{}",
        path.display()
    );
    let mut stack: Vec<String> = Vec::new();
    let mut rest = text.as_str();
    while let Some(i) = rest.find('<') {
        let end = rest[i..].find('>').unwrap() + i;
        let tag = &rest[i + 1..end];
        rest = &rest[end + 1..];
        if tag.starts_with('?') || tag.starts_with('!') || tag.ends_with('/') {
            continue;
        }
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(
                stack.pop().as_deref(),
                Some(name.trim()),
                "{}: unbalanced tags",
                path.display()
            );
        } else {
            stack.push(tag.split_whitespace().next().unwrap().to_owned());
        }
    }
    assert!(stack.is_empty(), "{}: unclosed {stack:?}", path.display());
    text
}

#[test]
fn sweep_plots_are_valid_png_and_svg_and_reproducible() {
    let dir = setup("sweep");
    let out = dir.join("out");
    let said = ok(&ikesim(&[
        "sweep",
        dir.join("exp.toml").to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]));
    assert!(said.contains("plots: "), "{said}");
    for name in ["drops", "drops-cdf", "queue"] {
        assert_eq!(
            png_size(&out.join(format!("plots/{name}.png"))),
            (960, 600),
            "{name}"
        );
        svg_text(&out.join(format!("plots/{name}.svg")));
    }
    let svg = svg_text(&out.join("plots/drops.svg"));
    assert!(
        svg.contains("thousands of drops") && svg.contains("nodes.src.rate = 8Mbps"),
        "labels and legend"
    );
    assert!(svg.contains("<polygon"), "the confidence band");

    // Drawn again (by `ikesim plot`, into another folder): the same bytes.
    let again = dir.join("again");
    ok(&ikesim(&[
        "plot",
        out.to_str().unwrap(),
        "--out",
        again.to_str().unwrap(),
    ]));
    for f in ["drops.png", "drops.svg", "drops-cdf.png", "queue.svg"] {
        assert!(
            std::fs::read(out.join("plots").join(f)).unwrap()
                == std::fs::read(again.join("plots").join(f)).unwrap(),
            "{f} differs when drawn again"
        );
    }

    // An ad-hoc plot from the command line.
    let said = ok(&ikesim(&[
        "plot",
        out.to_str().unwrap(),
        "--kind",
        "line",
        "--x",
        "nodes.src.rate",
        "--y",
        "bottleneck:left>sink:dropped_queue",
        "--group",
        "links.bottleneck.queue_packets",
        "--name",
        "drops-by-rate",
    ]));
    assert!(said.contains("drops-by-rate.png"), "{said}");
    png_size(&out.join("plots/drops-by-rate.png"));

    // Bad requests name what is allowed.
    let o = ikesim(&[
        "plot",
        out.to_str().unwrap(),
        "--kind",
        "line",
        "--x",
        "seed",
        "--y",
        "nope",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("sink:delay_ns.p99"));
    let o = ikesim(&[
        "plot",
        out.to_str().unwrap(),
        "--kind",
        "line",
        "--x",
        "seed",
        "--y",
        "sink:delay_ns.p99",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("has several values"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn single_run_cdf_and_series() {
    let dir = setup("run");
    let run = dir.join("run");
    ok(&ikesim(&[
        "run",
        dir.join("tiny.toml").to_str().unwrap(),
        "--set",
        "queue_series=[\"bottleneck\"]",
        "--out",
        run.to_str().unwrap(),
    ]));
    let r = run.to_str().unwrap();
    ok(&ikesim(&[
        "plot",
        r,
        "--kind",
        "cdf",
        "--y",
        "*:packets_received",
        "--name",
        "received",
    ]));
    ok(&ikesim(&[
        "plot",
        r,
        "--kind",
        "series",
        "--y",
        "bottleneck:*:queue_packets",
        "--x-scale",
        "1e-9",
        "--x-label",
        "time (s)",
    ]));
    png_size(&run.join("plots/received.png"));
    let series = run.join("plots/series-bottleneck___queue_packets.svg");
    assert!(svg_text(&series).contains("time (s)"));
    let o = ikesim(&["plot", r, "--kind", "line", "--x", "a", "--y", "b"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("merged sweep"));
    let o = ikesim(&["plot", r]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn parameters_zipped_with_x_or_the_group_need_no_filter() {
    let dir = setup("zip");
    std::fs::write(
        dir.join("zip.toml"),
        r#"
scenario = "tiny.toml"
seeds = 1
metrics = ["bottleneck:left>sink:dropped_queue"]

[zip.queue]
"links.bottleneck.queue_packets" = [5, 20]
"links.bottleneck.delay" = ["5ms", "10ms"]

[zip.load]
"nodes.src.rate" = ["4Mbps", "8Mbps"]
"nodes.src.size" = [1000, 1200]

[[plots]]
name = "drops"
kind = "line"
x = "links.bottleneck.queue_packets"
y = "bottleneck:left>sink:dropped_queue"
group = "nodes.src.rate"
"#,
    )
    .unwrap();
    let out = dir.join("out");
    ok(&ikesim(&[
        "sweep",
        dir.join("zip.toml").to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]));
    let svg = svg_text(&out.join("plots/drops.svg"));
    assert!(
        svg.contains("nodes.src.rate = 8Mbps"),
        "legend by the group"
    );
    // Grouped by something else, the zipped parameters still need a filter.
    let o = ikesim(&[
        "plot",
        out.to_str().unwrap(),
        "--kind",
        "line",
        "--x",
        "links.bottleneck.queue_packets",
        "--y",
        "bottleneck:left>sink:dropped_queue",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("has several values"));
}
