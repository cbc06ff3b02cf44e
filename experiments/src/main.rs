//! `ikesim`: run scenarios of the deterministic IKEv2/ESP-over-TCP network simulator.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use experiments::{build, output, run, scenario};
use sim::Direction;

/// ikesim: a deterministic discrete-event network simulator around a real IKEv2/ESP stack
/// with TCP encapsulation (RFC 9329).
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one scenario and write its metrics (and captures).
    Run {
        /// The scenario file (TOML).
        scenario: PathBuf,
        /// Root seed (decimal or 0x-hex); default: the scenario's `seed`.
        #[arg(long, value_parser = parse_seed)]
        seed: Option<u64>,
        /// Override a scenario value, e.g. `--set links.bottleneck.delay=20ms` (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
        /// Output folder; default `out/<scenario name>`.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Write a pcap file per link into `<out>/pcap/`.
        #[arg(long)]
        pcap: bool,
    },
}

fn parse_seed(s: &str) -> Result<u64, String> {
    let parsed = match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => s.parse(),
    };
    parsed.map_err(|_| {
        format!(
            "expected a seed: an integer from 0 to {} (or 0x-hex), got {s:?}",
            u64::MAX
        )
    })
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Run {
            scenario,
            seed,
            sets,
            out,
            pcap,
        } => run_cmd(&scenario, seed, &sets, out, pcap),
    }
}

fn run_cmd(
    path: &std::path::Path,
    seed: Option<u64>,
    sets: &[String],
    out: Option<PathBuf>,
    pcap: bool,
) -> ExitCode {
    let loaded = match scenario::load(path, sets) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let finished = match run::run(&loaded, seed, pcap) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            eprintln!(
                "reproduce: cargo run --release -p ikesim -- run {} --seed {}",
                path.display(),
                seed.unwrap_or(loaded.scenario.seed)
            );
            return ExitCode::from(1);
        }
    };
    let out = out.unwrap_or_else(|| PathBuf::from("out").join(&loaded.name));
    let captures = if pcap {
        build::captured_links(&loaded, &finished.sim)
    } else {
        Vec::new()
    };
    let files = match output::write_run(
        &out,
        &finished.info,
        &loaded.effective,
        &finished.rows,
        &finished.sim,
        &captures,
    ) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: writing {}: {e}", out.display());
            return ExitCode::from(1);
        }
    };
    print_summary(&finished, &out, &files);
    ExitCode::SUCCESS
}

fn print_summary(f: &run::Finished, out: &std::path::Path, files: &[PathBuf]) {
    let r = &f.report;
    println!(
        "scenario {}  seed {}  run {}",
        f.info.scenario, f.info.seed, f.info.run_id
    );
    println!("simulated {} in {} events", r.end, r.events);
    for link in f.sim.links() {
        for d in Direction::BOTH {
            let c = link.counters[d.index()];
            if c.sent_packets == 0 && c.dropped_queue + c.dropped_mtu + c.dropped_down == 0 {
                continue;
            }
            let (from, to) = if d == Direction::AtoB {
                (link.ends[0].0, link.ends[1].0)
            } else {
                (link.ends[1].0, link.ends[0].0)
            };
            println!(
                "  link {}:{from}>{to}  sent {}  delivered {}  dropped queue {} loss {} mtu {} down {}  peak queue {}",
                link.name,
                c.sent_packets,
                c.delivered_packets,
                c.dropped_queue,
                c.dropped_loss,
                c.dropped_mtu,
                c.dropped_down + c.dropped_node_down,
                c.peak_queue_packets
            );
        }
    }
    println!("fingerprint {:016x}", r.fingerprint);
    let list: Vec<String> = files
        .iter()
        .map(|p| out.join(p).display().to_string())
        .collect();
    println!("wrote {}", list.join(", "));
}
