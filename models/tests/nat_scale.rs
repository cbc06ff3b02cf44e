//! Over 100,000 bindings: creation, port exhaustion and timer-driven expiry stay exact
//! (and fast: every per-packet operation is a B-tree lookup; nothing scans the table).

#![allow(clippy::unwrap_used, reason = "tests")]

mod middlebox_harness;

use std::net::{Ipv4Addr, SocketAddrV4};

use middlebox_harness::{Seg, secs, tcp, udp};
use models::nat::{Nat, NatConfig};
use sim::{Ctx, IfaceId, LinkParams, Node, Packet, SimDuration, SimTime, Simulation};

const PUBLIC: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);
const UDP_FLOWS: u32 = 70_000;
const TCP_FLOWS: u32 = 40_000;
const BATCH: u32 = 1_000;

/// Opens `UDP_FLOWS` UDP and `TCP_FLOWS` TCP flows from distinct inside hosts, all from
/// port 40000, one batch per millisecond.
#[derive(Default)]
struct Flows {
    next: u32,
}

impl Node for Flows {
    fn start(&mut self, ctx: &mut Ctx<'_>) {
        ctx.set_timer_after(SimDuration::ZERO, 0);
    }

    fn on_packet(&mut self, _: &mut Ctx<'_>, _: IfaceId, _: Packet) {}

    fn on_timer(&mut self, ctx: &mut Ctx<'_>, _: u64) {
        let remote = SocketAddrV4::new(Ipv4Addr::new(198, 51, 100, 1), 443);
        for i in self.next..(self.next + BATCH).min(UDP_FLOWS + TCP_FLOWS) {
            let [_, _, c, d] = (i % 60_000).to_be_bytes();
            let host = Ipv4Addr::new(10, (i / 60_000) as u8, c, d);
            let inside = SocketAddrV4::new(host, 40_000);
            let bytes = if i < UDP_FLOWS {
                udp(inside, remote, b"x")
            } else {
                tcp(inside, remote, Seg::syn(i))
            };
            let packet = ctx.packet(bytes);
            ctx.send(IfaceId(0), packet);
        }
        self.next += BATCH;
        if self.next < UDP_FLOWS + TCP_FLOWS {
            ctx.set_timer_after(SimDuration::from_millis(1), 0);
        }
    }
}

/// Counts what leaves the NAT.
#[derive(Default)]
struct Sink;

impl Node for Sink {
    fn on_packet(&mut self, ctx: &mut Ctx<'_>, _: IfaceId, _: Packet) {
        ctx.metrics().incr("received");
    }
}

#[test]
fn a_hundred_thousand_bindings() {
    let mut sim = Simulation::new(1);
    let flows = sim
        .add_node("flows", Box::new(|_| Box::new(Flows::default())))
        .unwrap();
    let nat = sim
        .add_node(
            "nat",
            Box::new(|_| Box::new(Nat::new(NatConfig::new(PUBLIC)).unwrap())),
        )
        .unwrap();
    let sink = sim.add_node("sink", Box::new(|_| Box::new(Sink))).unwrap();
    sim.connect_sym("inside", flows, nat, LinkParams::new())
        .unwrap();
    sim.connect_sym("outside", nat, sink, LinkParams::new())
        .unwrap();
    let metrics = |sim: &Simulation, node| sim.nodes().find(|n| n.0 == node).unwrap().2.clone();
    let gauge = |sim: &Simulation| match metrics(sim, nat).get("bindings_active") {
        Some(sim::Metric::Gauge(v)) => *v as u64,
        other => panic!("{other:?}"),
    };

    sim.run_until(SimTime::ZERO + secs(1)).unwrap();
    // UDP exhausts its 64,512 ports (1024-65535; the preserved 40000 is one of them).
    let udp_bindings = 65_535 - 1_024 + 1;
    let m = metrics(&sim, nat);
    assert_eq!(
        m.counter("bindings_created"),
        u64::from(udp_bindings + TCP_FLOWS)
    );
    assert_eq!(
        m.counter("dropped_ports_exhausted"),
        u64::from(UDP_FLOWS - udp_bindings)
    );
    assert_eq!(
        metrics(&sim, sink).counter("received"),
        u64::from(udp_bindings + TCP_FLOWS)
    );
    assert_eq!(gauge(&sim), u64::from(udp_bindings + TCP_FLOWS));
    assert_eq!(
        sim.node::<Nat>(nat).unwrap().binding_count(),
        (udp_bindings + TCP_FLOWS) as usize
    );

    // UDP bindings go after 2 minutes, half-open TCP ones after 4.
    sim.run_until(SimTime::ZERO + secs(180)).unwrap();
    assert_eq!(gauge(&sim), u64::from(TCP_FLOWS));
    sim.run_until(SimTime::ZERO + secs(300)).unwrap();
    assert_eq!(gauge(&sim), 0);
    assert_eq!(
        metrics(&sim, nat).counter("bindings_expired"),
        u64::from(udp_bindings + TCP_FLOWS)
    );
    // One expiry timer at a time: a handful of wakeups, not one per binding.
    assert!(
        sim.report().events < 3 * u64::from(UDP_FLOWS + TCP_FLOWS),
        "{:?}",
        sim.report()
    );
}
