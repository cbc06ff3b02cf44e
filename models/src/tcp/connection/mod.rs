//! The connection: RFC 9293 §3.10 event processing, option negotiation, segment building and
//! the timers that are not the sender's.

use std::net::SocketAddrV4;

use sim::{SimDuration, SimTime};

mod input;

use super::events::EventQueue;
use super::rtt::RttEstimator;
use super::rx::Receiver;
use super::timer::{Timer, TimerTable};
use super::tx::{Env, RtoOutcome, Sender, SenderParams, Xmit, ts_now};
use super::{
    ConnectionError, Counters, DelayedAck, Event, Keepalive, Segment, State, Stats, TcpConfig, fill,
};
use crate::wire::{TcpControl, TcpRepr, TcpSeqNumber};

/// MSS assumed when the peer sends none (RFC 9293 §3.7.1, IPv4).
const DEFAULT_MSS: u16 = 536;
/// Bytes the timestamp option adds to every segment, padding included (RFC 7323 §3.2).
const TS_OPTION_LEN: u16 = 12;
/// Largest value of the 16-bit window field.
const MAX_WINDOW_FIELD: u32 = 65_535;

/// Options agreed in the handshake.
#[derive(Clone, Copy, Debug, Default)]
struct Negotiated {
    sack: bool,
    timestamps: bool,
    /// Shift applied to the peer's window field (RFC 7323 §2.3 Snd.Wind.Shift).
    snd_shift: u8,
    /// Shift applied to our window field (Rcv.Wind.Shift).
    rcv_shift: u8,
    /// Both sides sent the window scale option.
    window_scale: bool,
    peer_mss: u16,
}

/// What a connection consults of its [`TcpConfig`] after it is created; the rest of the
/// configuration is in the sender, the receiver and the RTT estimator.
///
/// Keeping only these instead of the whole configuration saves 48 bytes in every
/// connection, and boxing the watchdogs 40 more (BENCHMARKS.md, "Memory per idle client").
/// Sharing one configuration between connections would save more, but hosts hand each
/// connection its own copy.
#[derive(Clone, Debug)]
struct Settings {
    /// [`TcpConfig::mss`].
    mss: u16,
    /// What the SYN offers: [`TcpConfig::sack`], `timestamps` and `window_scale`.
    sack: bool,
    timestamps: bool,
    window_scale: bool,
    /// [`TcpConfig::syn_retries`].
    syn_retries: u32,
    /// [`TcpConfig::delayed_ack`].
    delayed_ack: Option<DelayedAck>,
    /// [`TcpConfig::time_wait`].
    time_wait: SimDuration,
    /// Keepalive and user timeout, if either is on. Both are off by default, and inline
    /// they would take 48 bytes in every connection.
    watchdogs: Option<Box<Watchdogs>>,
}

/// The settings of the watchdogs that fail a connection whose peer went away.
#[derive(Clone, Debug)]
struct Watchdogs {
    /// [`TcpConfig::keepalive`].
    keepalive: Option<Keepalive>,
    /// [`TcpConfig::user_timeout`].
    user_timeout: Option<SimDuration>,
}

impl Settings {
    fn new(cfg: &TcpConfig) -> Self {
        Self {
            mss: cfg.mss,
            sack: cfg.sack,
            timestamps: cfg.timestamps,
            window_scale: cfg.window_scale,
            syn_retries: cfg.syn_retries,
            delayed_ack: cfg.delayed_ack,
            time_wait: cfg.time_wait,
            watchdogs: (cfg.keepalive.is_some() || cfg.user_timeout.is_some()).then(|| {
                Box::new(Watchdogs {
                    keepalive: cfg.keepalive,
                    user_timeout: cfg.user_timeout,
                })
            }),
        }
    }

    /// [`TcpConfig::keepalive`].
    fn keepalive(&self) -> Option<Keepalive> {
        self.watchdogs.as_ref().and_then(|w| w.keepalive)
    }

    /// [`TcpConfig::user_timeout`].
    fn user_timeout(&self) -> Option<SimDuration> {
        self.watchdogs.as_ref().and_then(|w| w.user_timeout)
    }
}

/// A reset `<SEQ=seq><CTL=RST>` to send, with ACK if `ack` is given (RFC 9293 §3.10.7).
#[derive(Clone, Copy, Debug)]
struct Reset {
    seq: TcpSeqNumber,
    /// The acknowledgment number, for a reset with ACK.
    ack: Option<TcpSeqNumber>,
}

impl Reset {
    /// A reset without ACK.
    fn bare(seq: TcpSeqNumber) -> Self {
        Self { seq, ack: None }
    }
}

/// One TCP connection, sans IO.
///
/// # Driving contract
///
/// Inputs are [`Connection::handle_segment`] (a segment for this 4-tuple, checksum already
/// verified), [`Connection::handle_timeout`] (called at or after [`Connection::poll_timeout`])
/// and the application commands ([`send`](Connection::send), [`recv`](Connection::recv),
/// [`close`](Connection::close), [`abort`](Connection::abort)). After any input, the host
/// must, at the same `now`:
///
/// 1. call [`Connection::poll_transmit`] until it returns `None`, sending each segment;
/// 2. call [`Connection::poll_event`] until it returns `None`;
/// 3. read [`Connection::poll_timeout`] and arrange a call to `handle_timeout` then.
///
/// Inputs at different instants must not interleave with a partial drain (style.md
/// pitfall 11). `poll_transmit` emits everything the windows allow at once; queueing and
/// pacing are the links' business. After `handle_timeout(now)`, `poll_timeout` is `None`
/// or later than `now`.
#[derive(Clone, Debug)]
pub struct Connection {
    cfg: Settings,
    local: SocketAddrV4,
    remote: SocketAddrV4,
    state: State,
    iss: TcpSeqNumber,
    irs: TcpSeqNumber,
    tx: Sender,
    rx: Receiver,
    timers: TimerTable,
    events: EventQueue,
    stats: Counters,
    opts: Negotiated,
    /// A SYN (in SYN-SENT) or SYN-ACK (in SYN-RECEIVED) is due.
    syn_pending: bool,
    /// When the first SYN went out, while it has not been retransmitted (Karn's rule).
    syn_sent_at: Option<SimTime>,
    syn_retries: u32,
    /// A reset is due. Only its sequence and acknowledgment numbers are kept, not the
    /// whole header (96 bytes): the ports are the connection's, and every connection pays
    /// for this field (BENCHMARKS.md, "Memory per idle client").
    rst_pending: Option<Reset>,
    ack_now: bool,
    keepalive_pending: bool,
    keepalive_probes: u32,
    /// In-order segments received since our last ACK (RFC 5681 §4.2).
    delack_count: u32,
    /// Acknowledge the next data segment at once (the first after the handshake, as ns-3).
    quick_ack: bool,
    /// RFC 7323 TS.Recent and Last.ACK.sent.
    ts_recent: u32,
    last_ack_sent: TcpSeqNumber,
    /// Right edge of the window we last advertised.
    rcv_adv: TcpSeqNumber,
    /// SND.UNA when the user-timeout clock last restarted.
    uto_una: TcpSeqNumber,
    writable_wanted: bool,
    close_queued: bool,
}

impl Connection {
    /// Active open (RFC 9293 §3.10.1): the first `poll_transmit` yields the SYN.
    pub fn connect(
        now: SimTime,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        iss: TcpSeqNumber,
        cfg: TcpConfig,
    ) -> Self {
        let mut conn = Self::new(local, remote, iss, cfg, State::SynSent);
        conn.syn_pending = true;
        conn.sync(now);
        conn
    }

    /// Passive open from a `syn` a listener received; the first `poll_transmit` yields the
    /// SYN-ACK. Data on the SYN is not accepted (the peer retransmits it).
    pub fn accept(
        now: SimTime,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        syn: &TcpRepr,
        iss: TcpSeqNumber,
        cfg: TcpConfig,
    ) -> Self {
        let mut conn = Self::new(local, remote, iss, cfg, State::SynReceived);
        conn.take_syn(syn);
        conn.syn_pending = true;
        conn.sync(now);
        conn
    }

    fn new(
        local: SocketAddrV4,
        remote: SocketAddrV4,
        iss: TcpSeqNumber,
        cfg: TcpConfig,
        state: State,
    ) -> Self {
        let rtt = RttEstimator::new(cfg.rto_initial, cfg.rto_min, cfg.rto_max);
        let params = SenderParams {
            smss: u32::from(cfg.mss),
            initial_window: cfg.initial_window_segments,
            sack: false,
            nagle: cfg.nagle,
            limited_transmit: cfg.limited_transmit,
            ns3_reno_recovery: cfg.ns3_reno_recovery,
            max_retransmissions: cfg.max_retransmissions,
        };
        Self {
            tx: Sender::new(iss + 1, cfg.send_buffer, params, rtt),
            rx: Receiver::new(TcpSeqNumber(0), cfg.recv_buffer),
            local,
            remote,
            state,
            iss,
            irs: TcpSeqNumber(0),
            timers: TimerTable::default(),
            events: EventQueue::default(),
            stats: Counters {
                cwnd_series: cfg.cwnd_series.then(Box::default),
                ..Counters::default()
            },
            opts: Negotiated::default(),
            syn_pending: false,
            syn_sent_at: None,
            syn_retries: 0,
            rst_pending: None,
            ack_now: false,
            keepalive_pending: false,
            keepalive_probes: 0,
            delack_count: 0,
            quick_ack: false,
            ts_recent: 0,
            last_ack_sent: TcpSeqNumber(0),
            rcv_adv: TcpSeqNumber(0),
            uto_una: iss,
            writable_wanted: false,
            close_queued: false,
            cfg: Settings::new(&cfg),
        }
    }

    /// Our local address and port.
    pub fn local(&self) -> SocketAddrV4 {
        self.local
    }

    /// The peer's address and port.
    pub fn remote(&self) -> SocketAddrV4 {
        self.remote
    }

    /// The RFC 9293 state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Counters and congestion state (the cwnd series, if recorded, is copied).
    pub fn stats(&self) -> Stats {
        let c = &self.stats;
        Stats {
            cwnd: self.tx.cc.cwnd,
            ssthresh: self.tx.cc.ssthresh,
            srtt: self.tx.rtt.srtt().unwrap_or_default(),
            rttvar: self.tx.rtt.rttvar(),
            rto: self.tx.rtt.rto(),
            bytes_in_flight: self.tx.pipe(),
            segments_sent: c.segments_sent,
            bytes_sent: c.bytes_sent,
            retransmits_fast: c.retransmits_fast,
            retransmits_rto: c.retransmits_rto,
            retransmits_total: c.retransmits_fast + c.retransmits_rto,
            dupacks_received: c.dupacks_received,
            timeouts: c.timeouts,
            bytes_acked: c.bytes_acked,
            bytes_received: c.bytes_received,
            cwnd_series: c.cwnd_series.as_deref().cloned().unwrap_or_default(),
        }
    }

    /// Queues `data` for sending; returns how many bytes fitted (0 once closing or closed).
    pub fn send(&mut self, data: &[u8]) -> usize {
        let open = matches!(
            self.state,
            State::SynSent | State::SynReceived | State::Established | State::CloseWait
        );
        if !open || self.close_queued {
            return 0;
        }
        let n = self.tx.write(data);
        if n < data.len() {
            self.writable_wanted = true;
        }
        n
    }

    /// Bytes [`Connection::send`] would accept now.
    pub fn send_space(&self) -> usize {
        self.tx.space()
    }

    /// Reads in-order bytes; returns how many were copied.
    pub fn recv(&mut self, buf: &mut [u8]) -> usize {
        self.recv_with(buf.len(), fill(buf))
    }

    /// Reads up to `max` in-order bytes without copying them: `f` sees them in place, in
    /// one or two slices (in order). Returns how many were read.
    pub fn recv_with(&mut self, max: usize, f: impl FnMut(&[u8])) -> usize {
        let n = self.rx.read_with(max, f);
        let receiving = matches!(
            self.state,
            State::Established | State::FinWait1 | State::FinWait2
        );
        if n > 0 && receiving {
            // A window update (RFC 9293 §3.8.6.2.2) only when the window the peer knows has
            // shrunk to half the buffer or less and would at least double, as Linux does:
            // an update is a duplicate ACK to the sender, so they must stay rare.
            let advertised = (self.rcv_adv - self.rx.nxt()).max(0) as u64;
            let window = u64::from(self.rx.window());
            let capacity = self.rx.capacity() as u64;
            if advertised <= capacity / 2 && window >= 2 * advertised.max(1) {
                self.ack_now = true;
            }
        }
        n
    }

    /// In-order bytes ready for [`Connection::recv`].
    pub fn recv_len(&self) -> usize {
        self.rx.readable_len()
    }

    /// Half-close (RFC 9293 §3.10.4): FIN after the queued data. We may still receive.
    pub fn close(&mut self) {
        match self.state {
            State::SynSent => self.close_fully(),
            State::SynReceived => {
                self.close_queued = true;
                self.tx.queue_fin();
            }
            State::Established => {
                self.tx.queue_fin();
                self.state = State::FinWait1;
            }
            State::CloseWait => {
                self.tx.queue_fin();
                self.state = State::LastAck;
            }
            _ => {}
        }
    }

    /// Abort (RFC 9293 §3.10.5): send a reset if synchronized, and close at once.
    pub fn abort(&mut self) {
        if !matches!(
            self.state,
            State::Closed | State::Listen | State::SynSent | State::TimeWait
        ) {
            self.rst_pending = Some(Reset::bare(self.tx.snd_max()));
        }
        self.ack_now = false;
        if self.state != State::Closed {
            self.close_fully();
        }
    }

    /// The next event for the application.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The earliest deadline at which [`Connection::handle_timeout`] must be called.
    pub fn poll_timeout(&self) -> Option<SimTime> {
        self.timers.next_timeout()
    }

    /// Runs every timer due at `now`.
    pub fn handle_timeout(&mut self, now: SimTime) {
        while let Some(timer) = self.timers.pop_expired(now) {
            match timer {
                Timer::Retransmit => self.on_retransmit_timer(now),
                Timer::DelayedAck => self.ack_now = true,
                Timer::Persist => self.tx.on_persist(&mut Env {
                    now,
                    timers: &mut self.timers,
                    stats: &mut self.stats,
                }),
                Timer::Keepalive => self.on_keepalive_timer(now),
                Timer::UserTimeout => self.fail(ConnectionError::TimedOut),
                Timer::TimeWait => self.close_fully(),
            }
        }
        self.sync(now);
    }

    fn on_retransmit_timer(&mut self, now: SimTime) {
        if matches!(self.state, State::SynSent | State::SynReceived) {
            if self.syn_retries >= self.cfg.syn_retries {
                self.fail(ConnectionError::TimedOut);
                return;
            }
            self.syn_retries += 1;
            self.syn_sent_at = None;
            self.tx.rtt.backoff();
            self.syn_pending = true;
            return;
        }
        let mut env = Env {
            now,
            timers: &mut self.timers,
            stats: &mut self.stats,
        };
        if self.tx.on_rto(&mut env) == RtoOutcome::GiveUp {
            self.fail(ConnectionError::TimedOut);
        }
    }

    fn on_keepalive_timer(&mut self, now: SimTime) {
        let Some(ka) = self.cfg.keepalive() else {
            return;
        };
        if self.tx.outstanding() {
            // The retransmission timer watches the peer already.
            self.set_timer(Timer::Keepalive, now, ka.idle);
        } else if self.keepalive_probes >= ka.count {
            self.fail(ConnectionError::TimedOut);
        } else {
            self.keepalive_probes += 1;
            self.keepalive_pending = true;
            self.set_timer(Timer::Keepalive, now, ka.interval);
        }
    }

    /// Arms `timer` for `now + d`, at least one nanosecond ahead so that time advances.
    fn set_timer(&mut self, timer: Timer, now: SimTime, d: SimDuration) {
        self.timers
            .set(timer, now + d.max(SimDuration::from_nanos(1)));
    }

    fn fail(&mut self, err: ConnectionError) {
        self.state = State::Closed;
        self.ack_now = false;
        self.syn_pending = false;
        self.timers.stop_all();
        self.events.push_back(Event::Failed(err));
    }

    fn close_fully(&mut self) {
        self.state = State::Closed;
        self.syn_pending = false;
        self.timers.stop_all();
        self.events.push_back(Event::Closed);
    }

    fn enter_time_wait(&mut self, now: SimTime) {
        self.timers.stop_all();
        if self.cfg.time_wait == SimDuration::ZERO {
            self.close_fully();
        } else {
            self.state = State::TimeWait;
            self.set_timer(Timer::TimeWait, now, self.cfg.time_wait);
        }
    }

    /// Records the options of the peer's SYN (RFC 9293 §3.7.1, RFC 7323 §2.2 and §3.2,
    /// RFC 2018 §2): each is used only if both sides offered it.
    fn take_syn(&mut self, syn: &TcpRepr) {
        self.irs = syn.seq_number;
        self.rx = Receiver::new(syn.seq_number + 1, self.rx.capacity());
        self.opts.peer_mss = syn.max_seg_size.unwrap_or(DEFAULT_MSS);
        self.opts.sack = self.cfg.sack && syn.sack_permitted;
        if let (true, Some(shift)) = (self.cfg.window_scale, syn.window_scale) {
            self.opts.window_scale = true;
            self.opts.snd_shift = shift;
            self.opts.rcv_shift = self.our_window_shift();
        }
        if let (true, Some((tsval, _))) = (self.cfg.timestamps, syn.timestamp) {
            self.opts.timestamps = true;
            self.ts_recent = tsval;
        }
        // RFC 7323 §2.2: the window in a SYN is never scaled.
        let ack = syn.ack_number.unwrap_or(self.iss);
        self.tx
            .init_window(u32::from(syn.window_len), syn.seq_number, ack);
    }

    /// The smallest shift that fits the receive buffer in the 16-bit field (as ns-3).
    fn our_window_shift(&self) -> u8 {
        let mut shift = 0;
        while (self.rx.capacity() >> shift) > MAX_WINDOW_FIELD as usize && shift < 14 {
            shift += 1;
        }
        shift
    }

    /// The handshake completed: fix the sender MSS and open for data.
    fn establish(&mut self, now: SimTime) {
        // RFC 9293 §3.7.1 / RFC 6691: the MSS counts options; timestamps take 12 bytes.
        let ts = if self.opts.timestamps {
            TS_OPTION_LEN
        } else {
            0
        };
        let mss = self
            .cfg
            .mss
            .min(self.opts.peer_mss)
            .saturating_sub(ts)
            .max(1);
        self.tx.set_negotiated(u32::from(mss), self.opts.sack);
        self.timers.stop(Timer::Retransmit);
        self.state = if self.close_queued {
            State::FinWait1
        } else {
            State::Established
        };
        self.quick_ack = true;
        self.events.push_back(Event::Connected);
        if let Some(ka) = self.cfg.keepalive() {
            self.set_timer(Timer::Keepalive, now, ka.idle);
        }
    }

    /// An RTT sample from the handshake: the echoed timestamp, or the first SYN's time.
    fn handshake_rtt(&mut self, now: SimTime, repr: &TcpRepr) {
        let sample = match (self.opts.timestamps, repr.timestamp) {
            (true, Some((_, tsecr))) => Some(SimDuration::from_millis(u64::from(
                ts_now(now).wrapping_sub(tsecr),
            ))),
            _ => self.syn_sent_at.map(|t| now - t),
        };
        if let Some(r) = sample {
            self.tx.rtt.sample(r.max(SimDuration::from_micros(1)));
        }
    }

    /// The next segment to send, or `None` when there is nothing to send now.
    pub fn poll_transmit(&mut self, now: SimTime) -> Option<Segment> {
        let segment = self.next_segment(now);
        self.sync(now);
        segment
    }

    fn next_segment(&mut self, now: SimTime) -> Option<Segment> {
        if let Some(rst) = self.rst_pending.take() {
            return Some(Segment {
                repr: TcpRepr::rst(self.local.port(), self.remote.port(), rst.seq, rst.ack),
                payload: Vec::new(),
            });
        }
        if self.syn_pending {
            return Some(self.syn_segment(now));
        }
        let sending = matches!(
            self.state,
            State::Established
                | State::CloseWait
                | State::FinWait1
                | State::Closing
                | State::LastAck
        );
        if sending {
            let mut env = Env {
                now,
                timers: &mut self.timers,
                stats: &mut self.stats,
            };
            if let Some(x) = self.tx.poll(&mut env) {
                return Some(self.data_segment(now, x));
            }
        }
        if std::mem::take(&mut self.keepalive_pending) {
            // RFC 9293 §3.8.4: a probe with SEG.SEQ = SND.NXT - 1 and no data, which the
            // peer answers with an ACK.
            let seq = self.tx.una() - 1;
            return Some(self.segment(now, TcpControl::None, seq, Vec::new()));
        }
        if self.ack_now && self.state != State::SynSent {
            let seq = self.tx.snd_max();
            return Some(self.segment(now, TcpControl::None, seq, Vec::new()));
        }
        None
    }

    /// SYN (SYN-SENT) or SYN-ACK (SYN-RECEIVED) with our options (RFC 9293 §3.5).
    fn syn_segment(&mut self, now: SimTime) -> Segment {
        self.syn_pending = false;
        if self.syn_retries == 0 {
            self.syn_sent_at = Some(now);
        }
        let rto = self.tx.rtt.rto();
        self.set_timer(Timer::Retransmit, now, rto);
        let syn_ack = self.state == State::SynReceived;
        let mut segment = self.segment(now, TcpControl::Syn, self.iss, Vec::new());
        let repr = &mut segment.repr;
        repr.max_seg_size = Some(self.cfg.mss);
        // In a SYN we offer what we are configured for; in a SYN-ACK what both offered.
        if syn_ack {
            repr.sack_permitted = self.opts.sack;
            repr.window_scale = self.opts.window_scale.then_some(self.opts.rcv_shift);
        } else {
            repr.ack_number = None;
            repr.sack_permitted = self.cfg.sack;
            repr.window_scale = self.cfg.window_scale.then(|| self.our_window_shift());
            repr.timestamp = self.cfg.timestamps.then_some((ts_now(now), 0));
        }
        segment
    }

    fn data_segment(&mut self, now: SimTime, x: Xmit) -> Segment {
        let payload = self.tx.payload(&x);
        let control = if x.fin {
            TcpControl::Fin
        } else if !payload.is_empty() && self.tx.ends_data(&x) {
            // Like BSD and Linux: PSH on the segment that empties the send queue.
            TcpControl::Psh
        } else {
            TcpControl::None
        };
        self.segment(now, control, x.seq, payload)
    }

    /// Builds a segment carrying our current ACK, window, timestamp and SACK blocks, and
    /// records that an ACK went out.
    fn segment(
        &mut self,
        now: SimTime,
        control: TcpControl,
        seq: TcpSeqNumber,
        payload: Vec<u8>,
    ) -> Segment {
        let syn = control == TcpControl::Syn;
        let window = self.rx.window();
        let (window_len, shift) = if syn {
            (window.min(MAX_WINDOW_FIELD), 0)
        } else {
            (
                (window >> self.opts.rcv_shift).min(MAX_WINDOW_FIELD),
                self.opts.rcv_shift,
            )
        };
        let ack = self.rx.nxt();
        let sack_ranges = if self.opts.sack && !syn {
            self.rx.sack_blocks()
        } else {
            [None; 4]
        };
        let repr = TcpRepr {
            src_port: self.local.port(),
            dst_port: self.remote.port(),
            control,
            seq_number: seq,
            ack_number: Some(ack),
            window_len: window_len as u16,
            window_scale: None,
            max_seg_size: None,
            sack_permitted: false,
            sack_ranges,
            timestamp: self
                .opts
                .timestamps
                .then_some((ts_now(now), self.ts_recent)),
            payload_len: payload.len(),
        };
        self.last_ack_sent = ack;
        self.rcv_adv = ack + (window_len << shift) as usize;
        self.ack_now = false;
        self.delack_count = 0;
        self.timers.stop(Timer::DelayedAck);
        Segment { repr, payload }
    }

    /// Refreshes the user timeout and records the congestion window after every input.
    fn sync(&mut self, now: SimTime) {
        if let Some(uto) = self.cfg.user_timeout() {
            let running = self.state != State::Closed && self.tx.outstanding();
            if !running {
                self.timers.stop(Timer::UserTimeout);
            } else if !self.timers.is_set(Timer::UserTimeout) || self.uto_una != self.tx.una() {
                self.uto_una = self.tx.una();
                self.set_timer(Timer::UserTimeout, now, uto);
            }
        }
        let synchronized = !matches!(self.state, State::SynSent | State::SynReceived);
        if let Some(series) = &mut self.stats.cwnd_series
            && synchronized
        {
            let (cwnd, ssthresh) = (self.tx.cc.cwnd, self.tx.cc.ssthresh);
            // A sample at every change.
            if series
                .last()
                .is_none_or(|&(_, c, s)| (c, s) != (cwnd, ssthresh))
            {
                series.push((now, cwnd, ssthresh));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tcp::testing::{DropFilter, Pair, Side};

    impl Connection {
        /// Heap bytes held, counting buffer capacities.
        fn heap_bytes(&self) -> usize {
            self.events.heap_bytes()
                + self
                    .cfg
                    .watchdogs
                    .as_ref()
                    .map_or(0, |_| size_of::<Watchdogs>())
                + self.stats.cwnd_series.as_ref().map_or(0, |series| {
                    size_of::<Vec<(SimTime, u32, u32)>>()
                        + series.capacity() * size_of::<(SimTime, u32, u32)>()
                })
                + self.tx.heap_bytes()
                + self.rx.heap_bytes()
        }
    }

    /// After a 1 MB transfer with losses, an idle established connection holds no heap
    /// memory: buffers are released once drained.
    #[test]
    fn idle_connection_is_small() {
        let mut p = Pair::default_pair();
        let mut n = 0;
        let drop: DropFilter = Box::new(move |side, _| {
            n += 1;
            side == Side::Client && n % 50 == 0
        });
        p.drop = Some(drop);
        assert!(p.drive_until(100, |p| p.conns[1].is_some()));
        let data = vec![9; 1 << 20];
        assert_eq!(p.conn(Side::Client).send(&data), data.len());
        assert!(p.drive_until(100_000, |p| p.received[1].len() == data.len()));
        p.drive_to(p.now + SimDuration::from_secs(2));
        for side in [Side::Client, Side::Server] {
            let conn = p.conn(side);
            assert_eq!(conn.state(), State::Established);
            let heap = conn.heap_bytes();
            println!(
                "{side:?}: {} bytes inline, {heap} heap",
                size_of::<Connection>()
            );
            assert_eq!(heap, 0, "{side:?}: {heap} heap bytes");
        }
        // Every connection is this big, idle or not (BENCHMARKS.md, "Memory per idle
        // client"): 608 bytes with rustc 1.95, 976 before rarely used state was boxed.
        assert!(
            size_of::<Connection>() <= 640,
            "{}",
            size_of::<Connection>()
        );
    }
}
