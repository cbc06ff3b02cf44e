//! Bulk TCP transfer: a sender that pushes a fixed number of bytes as fast as TCP allows,
//! and a sink that accepts connections, checks every byte and measures completion.

use std::collections::BTreeMap;
use std::net::SocketAddrV4;

use sim::SimTime;

use super::{PATTERN_CHUNK, Start, pattern, pattern_errors};
use crate::ip::{App, ConnId, HostCtx};
use crate::tcp::{Event, TcpConfig};

/// Configuration of a [`BulkSend`].
#[derive(Clone, Debug)]
pub struct BulkSendConfig {
    /// Where to connect.
    pub to: SocketAddrV4,
    /// How many bytes to send before closing.
    pub bytes: u64,
    /// When to connect.
    pub start: Start,
    /// TCP settings.
    pub tcp: TcpConfig,
}

/// Sends `bytes` bytes of a checkable pattern over one TCP connection, then closes.
///
/// Metrics: `bulk_started_ns`, `bulk_sent_bytes`, `bulk_closed_ns` (when the connection
/// closed cleanly), `bulk_failed`.
#[derive(Debug)]
pub struct BulkSend {
    cfg: BulkSendConfig,
    conn: Option<ConnId>,
    queued: u64,
}

impl BulkSend {
    /// A sender with this configuration.
    pub fn new(cfg: BulkSendConfig) -> Self {
        Self {
            cfg,
            conn: None,
            queued: 0,
        }
    }

    fn fill(&mut self, host: &mut HostCtx<'_, '_>, conn: ConnId) {
        while self.queued < self.cfg.bytes {
            // Offer a whole chunk even when the buffer has less room: a short write is what
            // makes the connection report `Writable` once space frees up.
            let len = PATTERN_CHUNK.min((self.cfg.bytes - self.queued) as usize);
            let n = host.tcp_send(conn, pattern(self.queued, len));
            self.queued += n as u64;
            if n < len {
                return;
            }
        }
        host.metrics().add("bulk_sent_bytes", self.queued);
        host.tcp_close(conn);
    }
}

impl App for BulkSend {
    fn start(&mut self, host: &mut HostCtx<'_, '_>) {
        let at = SimTime::ZERO + self.cfg.start.draw(host.rng());
        host.set_timer(at, 0);
    }

    fn on_timer(&mut self, host: &mut HostCtx<'_, '_>, _: u64) {
        let now = host.now().as_nanos() as f64;
        host.metrics().set_gauge("bulk_started_ns", now);
        match host.tcp_connect(self.cfg.to, self.cfg.tcp.clone()) {
            Ok(conn) => self.conn = Some(conn),
            Err(_) => host.metrics().incr("bulk_failed"),
        }
    }

    fn on_tcp(&mut self, host: &mut HostCtx<'_, '_>, conn: ConnId, event: Event) {
        match event {
            Event::Connected | Event::Writable if self.queued < self.cfg.bytes => {
                self.fill(host, conn)
            }
            Event::Closed => {
                let now = host.now().as_nanos() as f64;
                host.metrics().set_gauge("bulk_closed_ns", now);
            }
            Event::Failed(_) => host.metrics().incr("bulk_failed"),
            _ => {}
        }
    }
}

/// Configuration of a [`BulkSink`].
#[derive(Clone, Debug)]
pub struct BulkSinkConfig {
    /// Port to listen on.
    pub port: u16,
    /// TCP settings.
    pub tcp: TcpConfig,
}

#[derive(Debug)]
struct Incoming {
    accepted: SimTime,
    received: u64,
    last_byte: SimTime,
}

/// Accepts any number of bulk connections on a port, reads and checks every byte.
///
/// Metrics: `bulk_received_bytes`, `bulk_corrupt_bytes` (bytes that differ from the
/// sender's pattern: must stay 0), `bulk_completed` (connections whose sender finished),
/// `bulk_last_byte_ns` (gauge: when the last byte of any connection arrived, i.e. the
/// completion time of a single transfer started at 0), `bulk_transfer_ns` (histogram per
/// connection: last byte minus accept), `bulk_goodput_bps` (gauge: all bytes over the span
/// from the first accept to the last byte).
#[derive(Debug)]
pub struct BulkSink {
    cfg: BulkSinkConfig,
    conns: BTreeMap<ConnId, Incoming>,
    buf: Vec<u8>,
    first_accept: Option<SimTime>,
    last_byte: Option<SimTime>,
    total: u64,
}

impl BulkSink {
    /// A sink with this configuration.
    pub fn new(cfg: BulkSinkConfig) -> Self {
        Self {
            cfg,
            conns: BTreeMap::new(),
            buf: vec![0; PATTERN_CHUNK],
            first_accept: None,
            last_byte: None,
            total: 0,
        }
    }

    fn read(&mut self, host: &mut HostCtx<'_, '_>, conn: ConnId) {
        let now = host.now();
        let Some(incoming) = self.conns.get_mut(&conn) else {
            return;
        };
        loop {
            let n = host.tcp_recv(conn, &mut self.buf);
            if n == 0 {
                break;
            }
            let corrupt = pattern_errors(&self.buf[..n], incoming.received);
            incoming.received += n as u64;
            incoming.last_byte = now;
            self.total += n as u64;
            self.last_byte = Some(now);
            let m = host.metrics();
            m.add("bulk_received_bytes", n as u64);
            m.add("bulk_corrupt_bytes", corrupt);
        }
    }
}

impl App for BulkSink {
    fn start(&mut self, host: &mut HostCtx<'_, '_>) {
        if host
            .tcp_listen(self.cfg.port, self.cfg.tcp.clone())
            .is_err()
        {
            host.metrics().incr("bulk_listen_failed");
        }
    }

    fn on_tcp(&mut self, host: &mut HostCtx<'_, '_>, conn: ConnId, event: Event) {
        let now = host.now();
        match event {
            Event::Connected => {
                self.first_accept.get_or_insert(now);
                self.conns.insert(
                    conn,
                    Incoming {
                        accepted: now,
                        received: 0,
                        last_byte: now,
                    },
                );
            }
            Event::Readable => self.read(host, conn),
            Event::PeerFinished => {
                self.read(host, conn);
                if let Some(c) = self.conns.get(&conn) {
                    let transfer = c.last_byte - c.accepted;
                    host.metrics()
                        .record("bulk_transfer_ns", transfer.as_nanos());
                    host.metrics().incr("bulk_completed");
                }
                host.tcp_close(conn);
            }
            Event::Closed | Event::Failed(_) => {
                self.conns.remove(&conn);
            }
            Event::Writable => {}
        }
    }

    fn finish(&mut self, host: &mut HostCtx<'_, '_>) {
        if let (Some(first), Some(last)) = (self.first_accept, self.last_byte) {
            let m = host.metrics();
            m.set_gauge("bulk_last_byte_ns", last.as_nanos() as f64);
            let span = (last - first).as_secs_f64();
            if span > 0.0 {
                m.set_gauge("bulk_goodput_bps", self.total as f64 * 8.0 / span);
            }
        }
    }
}
