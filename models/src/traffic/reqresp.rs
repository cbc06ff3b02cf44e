//! Request/response over TCP: a client that opens a connection, sends a request, reads the
//! response and closes (possibly several times), and a server that answers any request.
//!
//! A request starts with an 8-byte header, the request length and the response length as
//! big-endian `u32`s (the header counts towards the request length), followed by pattern
//! bytes; the server reads that many bytes, then sends the response length in pattern bytes.

use std::collections::BTreeMap;
use std::net::SocketAddrV4;

use sim::SimTime;

use super::{Start, fill_pattern, pattern_errors};
use crate::ip::{App, ConnId, HostCtx};
use crate::tcp::{Event, TcpConfig};

const HEADER: usize = 8;

/// Configuration of a [`RequestClient`].
#[derive(Clone, Debug)]
pub struct RequestConfig {
    /// The server.
    pub server: SocketAddrV4,
    /// Request size in bytes (at least 8).
    pub request_bytes: u32,
    /// Response size in bytes.
    pub response_bytes: u32,
    /// When the first request starts.
    pub start: Start,
    /// Requests, one connection each, one after the other.
    pub count: u32,
    /// TCP settings.
    pub tcp: TcpConfig,
}

/// Sends requests and measures their latency.
///
/// Metrics: `rr_completed`, `rr_failed`, `rr_corrupt_bytes`, `rr_latency_ns` (histogram:
/// from opening the connection to the last response byte).
#[derive(Debug)]
pub struct RequestClient {
    cfg: RequestConfig,
    done: u32,
    current: Option<(ConnId, SimTime, u64)>,
}

impl RequestClient {
    /// A client with this configuration.
    pub fn new(mut cfg: RequestConfig) -> Self {
        cfg.request_bytes = cfg.request_bytes.max(HEADER as u32);
        Self {
            cfg,
            done: 0,
            current: None,
        }
    }

    fn open(&mut self, host: &mut HostCtx<'_, '_>) {
        match host.tcp_connect(self.cfg.server, self.cfg.tcp.clone()) {
            Ok(conn) => self.current = Some((conn, host.now(), 0)),
            Err(_) => host.metrics().incr("rr_failed"),
        }
    }

    /// Ends the current exchange and opens the next, if any.
    fn next(&mut self, host: &mut HostCtx<'_, '_>) {
        self.current = None;
        self.done += 1;
        if self.done < self.cfg.count {
            self.open(host);
        }
    }

    fn request(&self) -> Vec<u8> {
        let mut req = vec![0; self.cfg.request_bytes as usize];
        fill_pattern(&mut req[HEADER..], HEADER as u64);
        req[..4].copy_from_slice(&self.cfg.request_bytes.to_be_bytes());
        req[4..8].copy_from_slice(&self.cfg.response_bytes.to_be_bytes());
        req
    }
}

impl App for RequestClient {
    fn start(&mut self, host: &mut HostCtx<'_, '_>) {
        if self.cfg.count > 0 {
            let at = SimTime::ZERO + self.cfg.start.draw(host.rng());
            host.set_timer(at, 0);
        }
    }

    fn on_timer(&mut self, host: &mut HostCtx<'_, '_>, _: u64) {
        self.open(host);
    }

    fn on_tcp(&mut self, host: &mut HostCtx<'_, '_>, conn: ConnId, event: Event) {
        let Some((current, opened, received)) = self.current else {
            return;
        };
        if current != conn {
            return;
        }
        match event {
            Event::Connected => {
                // The request is small next to the send buffer: it is accepted whole.
                let req = self.request();
                let n = host.tcp_send(conn, &req);
                debug_assert_eq!(n, req.len(), "request larger than the send buffer");
            }
            Event::Readable | Event::PeerFinished => {
                let mut buf = [0u8; 4096];
                let mut got = received;
                loop {
                    let n = host.tcp_recv(conn, &mut buf);
                    if n == 0 {
                        break;
                    }
                    let corrupt = pattern_errors(&buf[..n], got);
                    host.metrics().add("rr_corrupt_bytes", corrupt);
                    got += n as u64;
                }
                self.current = Some((conn, opened, got));
                if got >= u64::from(self.cfg.response_bytes) {
                    let latency = host.now() - opened;
                    host.metrics().record("rr_latency_ns", latency.as_nanos());
                    host.metrics().incr("rr_completed");
                    // Closing starts TIME-WAIT on our side; the next exchange does not wait.
                    host.tcp_close(conn);
                    self.next(host);
                }
            }
            Event::Failed(_) => {
                host.metrics().incr("rr_failed");
                self.next(host);
            }
            Event::Closed => self.next(host),
            Event::Writable => {}
        }
    }
}

/// Configuration of a [`Responder`].
#[derive(Clone, Debug)]
pub struct ResponderConfig {
    /// Port to listen on.
    pub port: u16,
    /// TCP settings.
    pub tcp: TcpConfig,
}

#[derive(Debug, Default)]
struct Exchange {
    header: Vec<u8>,
    received: u64,
    sent: u64,
    sizes: Option<(u64, u64)>,
}

/// Answers every request on a port.
///
/// Metrics: `rr_served`, `rr_bad_request`.
#[derive(Debug)]
pub struct Responder {
    cfg: ResponderConfig,
    exchanges: BTreeMap<ConnId, Exchange>,
}

impl Responder {
    /// A server with this configuration.
    pub fn new(cfg: ResponderConfig) -> Self {
        Self {
            cfg,
            exchanges: BTreeMap::new(),
        }
    }

    fn read(&mut self, host: &mut HostCtx<'_, '_>, conn: ConnId) {
        let Some(ex) = self.exchanges.get_mut(&conn) else {
            return;
        };
        let mut buf = [0u8; 4096];
        loop {
            let n = host.tcp_recv(conn, &mut buf);
            if n == 0 {
                break;
            }
            let need = HEADER.saturating_sub(ex.header.len()).min(n);
            ex.header.extend_from_slice(&buf[..need]);
            ex.received += n as u64;
            if ex.sizes.is_none() && ex.header.len() == HEADER {
                let req =
                    u32::from_be_bytes([ex.header[0], ex.header[1], ex.header[2], ex.header[3]]);
                let resp =
                    u32::from_be_bytes([ex.header[4], ex.header[5], ex.header[6], ex.header[7]]);
                if (req as usize) < HEADER {
                    host.metrics().incr("rr_bad_request");
                    host.tcp_abort(conn);
                    return;
                }
                ex.sizes = Some((u64::from(req), u64::from(resp)));
            }
        }
        self.respond(host, conn);
    }

    fn respond(&mut self, host: &mut HostCtx<'_, '_>, conn: ConnId) {
        let Some(ex) = self.exchanges.get_mut(&conn) else {
            return;
        };
        let Some((req, resp)) = ex.sizes else { return };
        if ex.received < req || ex.sent >= resp {
            return;
        }
        let mut buf = [0u8; 4096];
        while ex.sent < resp {
            let len = buf.len().min((resp - ex.sent) as usize);
            fill_pattern(&mut buf[..len], ex.sent);
            let n = host.tcp_send(conn, &buf[..len]);
            ex.sent += n as u64;
            if n < len {
                return;
            }
        }
        host.metrics().incr("rr_served");
    }
}

impl App for Responder {
    fn start(&mut self, host: &mut HostCtx<'_, '_>) {
        if host
            .tcp_listen(self.cfg.port, self.cfg.tcp.clone())
            .is_err()
        {
            host.metrics().incr("rr_listen_failed");
        }
    }

    fn on_tcp(&mut self, host: &mut HostCtx<'_, '_>, conn: ConnId, event: Event) {
        match event {
            Event::Connected => {
                self.exchanges.insert(conn, Exchange::default());
            }
            Event::Readable => self.read(host, conn),
            Event::Writable => self.respond(host, conn),
            Event::PeerFinished => {
                self.read(host, conn);
                host.tcp_close(conn);
            }
            Event::Closed | Event::Failed(_) => {
                self.exchanges.remove(&conn);
            }
        }
    }
}
