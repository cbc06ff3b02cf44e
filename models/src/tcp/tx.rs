//! The send side: send buffer, scoreboard, congestion control, loss recovery and the
//! retransmission timer.
//!
//! The ACK processing is a port of ns-3.44's `TcpSocketBase::ReceivedAck`, `ProcessAck`,
//! `DupAck`, `EnterRecovery` and `ReTxTimeout` with `TcpNewReno` and `TcpClassicRecovery`,
//! because our bulk-transfer behaviour is validated against it. Each step cites the RFC text
//! it implements; where ns-3 picks one of the choices an RFC allows, the comment says so.
//!
//! Congestion states (ns-3's, after Linux): `Open`; `Disorder` after a duplicate ACK;
//! `Recovery` during fast recovery (RFC 6582 / RFC 6675); `Loss` after a retransmission
//! timeout until the ACK passes the recovery point.

use std::collections::VecDeque;

use sim::{SimDuration, SimTime};

use super::Counters;
use super::congestion::NewReno;
use super::rtt::RttEstimator;
use super::scoreboard::{DUP_THRESH, Scoreboard};
use super::timer::{Timer, TimerTable};
use crate::wire::TcpSeqNumber;

/// Longest persist (zero-window probe) interval (RFC 9293 §3.8.6.1 leaves it open; ns-3
/// and Linux cap it at 60 s, as the RTO).
const PERSIST_MAX: SimDuration = SimDuration::from_secs(60);

/// What the sender needs from the connection for one input.
pub(crate) struct Env<'a> {
    pub(crate) now: SimTime,
    pub(crate) timers: &'a mut TimerTable,
    pub(crate) stats: &'a mut Counters,
}

/// One segment to put on the wire: `len` bytes from `seq` (possibly none), and FIN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Xmit {
    pub(crate) seq: TcpSeqNumber,
    pub(crate) len: u32,
    pub(crate) fin: bool,
}

/// Congestion state (ns-3 `TcpCongState_t`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CongState {
    Open,
    Disorder,
    Recovery,
    Loss,
}

/// Settings fixed at the handshake.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SenderParams {
    /// Sender MSS: payload bytes per full segment.
    pub(crate) smss: u32,
    pub(crate) initial_window: u32,
    pub(crate) sack: bool,
    pub(crate) nagle: bool,
    pub(crate) limited_transmit: bool,
    /// See [`super::TcpConfig::ns3_reno_recovery`].
    pub(crate) ns3_reno_recovery: bool,
    pub(crate) max_retransmissions: u32,
}

/// What an RTO expiry led to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RtoOutcome {
    /// Retransmission scheduled (data or FIN).
    Retransmit,
    /// Nothing was outstanding.
    Idle,
    /// `max_retransmissions` exhausted.
    GiveUp,
}

/// The send half of a connection.
#[derive(Clone, Debug)]
pub(crate) struct Sender {
    params: SenderParams,
    /// Bytes from `buf_seq` on: sent and unacknowledged, then unsent.
    buf: VecDeque<u8>,
    buf_seq: TcpSeqNumber,
    capacity: usize,
    board: Scoreboard,
    /// Highest sequence number sent plus one, FIN and probes included (SND.NXT's maximum).
    snd_max: TcpSeqNumber,
    /// Peer's window in bytes (SND.WND), and SND.WL1/SND.WL2 of RFC 9293 §3.10.7.4.
    snd_wnd: u32,
    wl1: TcpSeqNumber,
    wl2: TcpSeqNumber,
    pub(crate) cc: NewReno,
    pub(crate) rtt: RttEstimator,
    state: CongState,
    dupacks: u32,
    /// RFC 6582 `recover` / RFC 6675 `RecoveryPoint`.
    recover: TcpSeqNumber,
    recover_active: bool,
    first_partial_ack: bool,
    /// Acknowledged bytes not yet counted as whole segments.
    acked_carry: u32,
    fin_queued: bool,
    fin_sent: bool,
    fin_acked: bool,
    /// Consecutive retransmission timeouts without progress.
    timeouts: u32,
    persist_backoff: u32,
    /// No RTT samples until the ACK passes this (Karn's rule after an RTO, as ns-3 clears
    /// its RTT history).
    rtt_holdoff: Option<TcpSeqNumber>,
    /// Transmissions decided during ACK or timer processing, to emit first; never empty.
    /// Only loss recovery and zero-window probes need it (`poll` returns what it decides
    /// directly), so it is boxed and dropped once drained: 8 bytes in every connection
    /// instead of 32 plus a buffer (BENCHMARKS.md, "Memory per idle client").
    #[expect(
        clippy::box_collection,
        reason = "8 bytes in every connection instead of 32, for a queue rarely used"
    )]
    outbox: Option<Box<VecDeque<Xmit>>>,
}

impl Sender {
    /// A sender whose first data byte is `first`.
    pub(crate) fn new(
        first: TcpSeqNumber,
        capacity: usize,
        params: SenderParams,
        rtt: RttEstimator,
    ) -> Self {
        Self {
            params,
            buf: VecDeque::new(),
            buf_seq: first,
            capacity,
            board: Scoreboard::default(),
            snd_max: first,
            snd_wnd: 0,
            wl1: first,
            wl2: first,
            cc: NewReno::new(params.smss, params.initial_window),
            rtt,
            state: CongState::Open,
            dupacks: 0,
            recover: first,
            recover_active: false,
            first_partial_ack: true,
            acked_carry: 0,
            fin_queued: false,
            fin_sent: false,
            fin_acked: false,
            timeouts: 0,
            persist_backoff: 0,
            rtt_holdoff: None,
            outbox: None,
        }
    }

    /// Fixes the MSS and the use of SACK negotiated in the handshake, and the initial
    /// window that follows (ns-3 sets cwnd when the SYN arrives).
    pub(crate) fn set_negotiated(&mut self, smss: u32, sack: bool) {
        self.params.smss = smss;
        self.params.sack = sack;
        self.cc = NewReno::new(smss, self.params.initial_window);
    }

    /// Queues application data; returns how much fitted.
    pub(crate) fn write(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(self.space());
        self.buf.extend(&data[..n]);
        n
    }

    pub(crate) fn space(&self) -> usize {
        if self.fin_queued {
            0
        } else {
            self.capacity.saturating_sub(self.buf.len())
        }
    }

    /// Queues a FIN after the data (RFC 9293 §3.10.4 CLOSE).
    pub(crate) fn queue_fin(&mut self) {
        self.fin_queued = true;
    }

    pub(crate) fn fin_acked(&self) -> bool {
        self.fin_acked
    }

    /// SND.UNA, counting the FIN once acknowledged.
    pub(crate) fn una(&self) -> TcpSeqNumber {
        if self.fin_acked {
            self.data_end() + 1
        } else {
            self.buf_seq
        }
    }

    pub(crate) fn snd_max(&self) -> TcpSeqNumber {
        self.snd_max
    }

    fn data_end(&self) -> TcpSeqNumber {
        self.buf_seq + self.buf.len()
    }

    /// Whether `x` carries the last queued byte.
    pub(crate) fn ends_data(&self, x: &Xmit) -> bool {
        x.seq + x.len as usize == self.data_end()
    }

    /// First byte never sent (RFC 6675 HighData + 1, ns-3 `m_highTxMark`).
    fn high_data(&self) -> TcpSeqNumber {
        self.buf_seq + self.board.sent_bytes() as usize
    }

    fn unsent(&self) -> usize {
        self.buf.len() - self.board.sent_bytes() as usize
    }

    /// Whether anything (data or FIN) is sent and unacknowledged.
    pub(crate) fn outstanding(&self) -> bool {
        !self.board.is_empty() || (self.fin_sent && !self.fin_acked)
    }

    pub(crate) fn pipe(&self) -> u32 {
        self.board.pipe()
    }

    /// Copies the payload of `x` out of the send buffer.
    pub(crate) fn payload(&self, x: &Xmit) -> Vec<u8> {
        let offset = (x.seq - self.buf_seq).max(0) as usize;
        let end = (offset + x.len as usize).min(self.buf.len());
        self.buf.range(offset.min(end)..end).copied().collect()
    }

    /// The peer's window from the SYN or SYN-ACK (never scaled, RFC 7323 §2.2).
    pub(crate) fn init_window(&mut self, wnd: u32, seq: TcpSeqNumber, ack: TcpSeqNumber) {
        self.snd_wnd = wnd;
        self.wl1 = seq;
        self.wl2 = ack;
    }

    /// RFC 9293 §3.10.7.4 window update, for an acceptable ACK (`ack >= SND.UNA`).
    pub(crate) fn update_window(
        &mut self,
        seq: TcpSeqNumber,
        ack: TcpSeqNumber,
        wnd: u32,
        timers: &mut TimerTable,
    ) {
        if self.wl1 < seq || (self.wl1 == seq && self.wl2 <= ack) {
            self.snd_wnd = wnd;
            self.wl1 = seq;
            self.wl2 = ack;
            if wnd > 0 {
                timers.stop(Timer::Persist);
                self.persist_backoff = 0;
            }
        }
    }

    /// Processes an acceptable ACK (`SND.UNA <= ack <= snd_max`); returns the bytes freed.
    ///
    /// ns-3 `ReceivedAck`: update the scoreboard with the SACK blocks (RFC 6675 §5 first
    /// paragraph), discard what is cumulatively acknowledged, take the RTT sample, then run
    /// the congestion state machine.
    pub(crate) fn on_ack(
        &mut self,
        env: &mut Env<'_>,
        ack: TcpSeqNumber,
        sack: &[(TcpSeqNumber, TcpSeqNumber)],
        has_data: bool,
        tsecr: Option<u32>,
    ) -> usize {
        let sacked = if self.params.sack {
            self.board.update_sack(sack)
        } else {
            0
        };
        let old_una = self.buf_seq;
        let data_ack = ack.min(self.data_end());
        let may_sample = ack > old_una && self.rtt_holdoff.is_none_or(|h| ack > h);
        let discarded = self.board.discard_up_to(data_ack);
        let freed = (data_ack - old_una).max(0) as usize;
        if freed > 0 {
            self.buf.drain(..freed);
            self.buf_seq = data_ack;
            self.shrink();
            env.stats.bytes_acked += freed as u64;
        }
        if may_sample {
            self.rtt_holdoff = None;
            // RFC 7323 §4.1 RTTM from the echoed timestamp (ms ticks, like ns-3); without
            // timestamps, Karn's rule (RFC 6298 §3): only a never-retransmitted segment.
            let sample = match tsecr {
                Some(tsecr) => Some(SimDuration::from_millis(u64::from(
                    ts_now(env.now).wrapping_sub(tsecr),
                ))),
                None => discarded.first_sent.map(|t| env.now - t),
            };
            if let Some(r) = sample {
                self.rtt.sample(r.max(SimDuration::from_micros(1)));
            }
        }
        if self.fin_sent && !self.fin_acked && ack == self.data_end() + 1 {
            self.fin_acked = true;
            self.timeouts = 0;
        }
        self.process_ack(
            env,
            data_ack,
            sacked > 0,
            discarded.delivered + sacked,
            old_una,
            has_data,
        );
        if !self.outstanding() {
            env.timers.stop(Timer::Retransmit);
        }
        freed
    }

    /// ns-3 `ProcessAck`: duplicate-ACK detection and the congestion state machine.
    fn process_ack(
        &mut self,
        env: &mut Env<'_>,
        ack: TcpSeqNumber,
        scoreboard_updated: bool,
        delivered: u32,
        old_una: TcpSeqNumber,
        has_data: bool,
    ) {
        // RFC 6675 §2 redefines a duplicate ACK as one carrying new SACK information; without
        // SACK, RFC 5681 §2 (a)-(d): same ACK number, data outstanding, no payload. (e), the
        // unchanged window, is not checked, as in ns-3.
        let is_dupack = if self.params.sack {
            scoreboard_updated
        } else {
            ack == old_una && ack < self.high_data() && !has_data
        };
        if is_dupack {
            env.stats.dupacks_received += 1;
            self.dup_ack(env);
        }
        if ack == old_una {
            return;
        }
        let smss = self.params.smss;
        let mut segs = delivered / smss;
        self.acked_carry += delivered % smss;
        if self.acked_carry >= smss {
            segs += 1;
            self.acked_carry -= smss;
        }
        if !is_dupack {
            self.dupacks = 0;
        }
        if ack < self.recover && self.state == CongState::Recovery {
            self.partial_ack(env, ack);
            return;
        }
        if ack < self.recover && self.state == CongState::Loss {
            // RFC 6582 §3.2 step 2 / RFC 6675 §5.1: no new recovery until the ACK passes
            // the recovery point; slow start continues.
            self.cc.on_ack(smss, segs);
            self.new_ack(env, true);
            return;
        }
        let mut exited_recovery = false;
        match self.state {
            CongState::Open => {}
            CongState::Disorder => {
                if !is_dupack {
                    self.state = CongState::Open;
                }
            }
            CongState::Recovery => {
                // RFC 6582 §3.2 step 5 / RFC 6675 §5 (A): full acknowledgment ends recovery.
                self.first_partial_ack = true;
                segs = (ack - old_una) as u32 / smss;
                self.state = CongState::Open;
                self.dupacks = 0;
                exited_recovery = true;
            }
            CongState::Loss => {
                self.first_partial_ack = true;
                segs = (ack - self.recover).max(0) as u32 / smss;
                self.state = CongState::Open;
            }
        }
        if ack >= self.recover {
            self.recover_active = false;
        }
        if exited_recovery {
            // RFC 6582 §3.2 step 5 option 1: cwnd = ssthresh (ns-3 classic recovery).
            self.new_ack(env, true);
            self.cc.cwnd = self.cc.ssthresh;
        }
        if self.state == CongState::Open {
            self.cc.on_ack(smss, segs);
            self.new_ack(env, true);
        }
    }

    /// RFC 6582 §3.2 step 4 partial acknowledgment: retransmit the next hole at once (unless
    /// already retransmitted). cwnd stays at ssthresh; sending is limited by pipe, which
    /// the ACK just reduced. Only the first partial ACK restarts the retransmission timer:
    /// RFC 6582 §4's "Impatient" variant, as in ns-3.
    fn partial_ack(&mut self, env: &mut Env<'_>, ack: TcpSeqNumber) {
        if !self.params.sack {
            self.board.mark_head_lost();
        }
        if !self
            .board
            .is_retransmitted_ending_at(ack + self.params.smss as usize)
        {
            self.do_retransmit(env);
        }
        let reset = self.first_partial_ack;
        self.first_partial_ack = false;
        self.new_ack(env, reset);
    }

    /// ns-3 `DupAck`.
    fn dup_ack(&mut self, env: &mut Env<'_>) {
        // Duplicates after a timeout are ignored: without SACK they cannot be told from
        // those of spurious retransmissions (RFC 6582 §4.1 heuristics are not used).
        if self.state == CongState::Loss {
            return;
        }
        if self.state != CongState::Recovery {
            self.dupacks += 1;
        }
        if self.state == CongState::Open {
            self.state = CongState::Disorder;
        }
        match self.state {
            CongState::Recovery => {
                // RFC 6582 §3.2 step 3: each further duplicate ACK lets one segment out.
                if !self.params.sack {
                    self.board.add_reno_sack();
                }
            }
            CongState::Disorder => {
                let una = self.buf_seq;
                // RFC 5681 §3.2 step 2 (three duplicates) guarded by RFC 6582 §3.2 step 2
                // (not again before `recover` is passed), or RFC 6675 §5 (2): IsLost(HighACK+1).
                // Without SACK, ns-3 asks IsLost too, of marks its Reno bookkeeping left.
                let lost_head =
                    (self.params.sack || self.params.ns3_reno_recovery) && self.board.is_lost(una);
                if (self.dupacks == DUP_THRESH && (una >= self.recover || !self.recover_active))
                    || lost_head
                {
                    self.enter_recovery(env);
                } else if !self.params.sack && self.params.limited_transmit {
                    // RFC 3042: the first two duplicates each let one new segment out.
                    self.board.add_reno_sack();
                }
            }
            CongState::Open | CongState::Loss => {}
        }
    }

    /// ns-3 `EnterRecovery` (RFC 6675 §5 step 4, RFC 6582 §3.2 step 2).
    fn enter_recovery(&mut self, env: &mut Env<'_>) {
        if !self.params.sack {
            self.board.add_reno_sack();
            self.board.mark_head_lost();
        } else if !self.board.is_lost(self.buf_seq) {
            self.board.mark_head_lost();
        }
        // (4.1) RecoveryPoint = HighData.
        self.recover = self.high_data();
        self.recover_active = true;
        self.state = CongState::Recovery;
        // (4.2) ssthresh = FlightSize / 2 (RFC 5681 eq. 4); ns-3 counts the lost head as
        // still in flight without SACK. Classic recovery then sets cwnd = ssthresh and lets
        // pipe do what RFC 6582's cwnd inflation does.
        let flight = self.board.pipe()
            + if self.params.sack {
                0
            } else {
                self.params.smss
            };
        self.cc.ssthresh = NewReno::loss_ssthresh(self.params.smss, flight);
        self.cc.cwnd = self.cc.ssthresh;
        // (4.3) Retransmit the first segment presumed dropped, whatever cwnd says.
        if let Some((seq, _)) = self.board.head()
            && let Some(x) = self.retransmit(env, seq)
        {
            self.defer(x);
        }
    }

    /// ns-3 `DoRetransmit`: the next lost segment, else new data, else the head.
    fn do_retransmit(&mut self, env: &mut Env<'_>) {
        let x = match self.next_seg(false) {
            Some(x) if x.seq < self.high_data() => self.retransmit(env, x.seq),
            Some(x) => Some(self.send_new(env, x)),
            None => self
                .board
                .head()
                .and_then(|(seq, _)| self.retransmit(env, seq)),
        };
        if let Some(x) = x {
            self.defer(x);
        }
    }

    /// Queues `x` for `poll`, after the transmissions queued before.
    fn defer(&mut self, x: Xmit) {
        self.outbox.get_or_insert_default().push_back(x);
    }

    /// Resends the scoreboard segment starting at `seq` now; `None` if no segment starts
    /// there.
    fn retransmit(&mut self, env: &mut Env<'_>, seq: TcpSeqNumber) -> Option<Xmit> {
        let len = self.board.mark_retransmitted(seq)?;
        if self.state == CongState::Loss {
            env.stats.retransmits_rto += 1;
        } else {
            env.stats.retransmits_fast += 1;
        }
        let fin = self.fin_sent && seq + len as usize == self.data_end();
        Some(self.emit(env, Xmit { seq, len, fin }))
    }

    /// Sends previously unsent data (and the FIN with its last byte).
    fn send_new(&mut self, env: &mut Env<'_>, x: Xmit) -> Xmit {
        if x.len > 0 {
            self.board.push(x.seq, x.len, env.now);
            env.stats.segments_sent += 1;
            env.stats.bytes_sent += u64::from(x.len);
        }
        let fin = self.fin_queued && x.seq + x.len as usize == self.data_end();
        if fin {
            self.fin_sent = true;
        }
        self.emit(env, Xmit { fin, ..x })
    }

    /// Accounts for sending `x` (SND.MAX, the retransmission timer) and returns it.
    fn emit(&mut self, env: &mut Env<'_>, x: Xmit) -> Xmit {
        let end = x.seq + x.len as usize + usize::from(x.fin);
        self.snd_max = self.snd_max.max(end);
        // RFC 6298 §5.1: start the timer when sending data if it is not running.
        if !env.timers.is_set(Timer::Retransmit) {
            env.timers.set(Timer::Retransmit, env.now + self.rtt.rto());
        }
        x
    }

    /// RFC 6298 §5.3 on an ACK of new data: restart the timer (with a fresh RTO, dropping
    /// any backoff as ns-3's `NewAck` does). Resets the retransmission count.
    fn new_ack(&mut self, env: &mut Env<'_>, restart: bool) {
        self.timeouts = 0;
        if restart {
            self.rtt.restart();
            env.timers.set(Timer::Retransmit, env.now + self.rtt.rto());
        }
    }

    /// RFC 6675 `NextSeg` (rules 1-3; rule 4's rescue retransmission is not used, as in
    /// ns-3). Returns a segment of at most SMSS, or `None`.
    fn next_seg(&self, rule3: bool) -> Option<Xmit> {
        if let Some((seq, len)) = self.board.first_lost() {
            return Some(Xmit {
                seq,
                len,
                fin: false,
            });
        }
        let in_window = self.snd_wnd.saturating_sub(self.board.sent_bytes());
        let unsent = self
            .unsent()
            .min(in_window as usize)
            .min(self.params.smss as usize);
        if unsent > 0 {
            return Some(Xmit {
                seq: self.high_data(),
                len: unsent as u32,
                fin: false,
            });
        }
        if rule3 {
            return self.board.first_unsacked().map(|(seq, len)| Xmit {
                seq,
                len,
                fin: false,
            });
        }
        None
    }

    /// The next transmission: one decided earlier, else one step of ns-3's
    /// `SendPendingData` (RFC 6675 §5 (C)): send while `cwnd - pipe` allows, with sender
    /// SWS avoidance and Nagle (RFC 9293 §3.8.6.2.1, §3.7.4).
    pub(crate) fn poll(&mut self, env: &mut Env<'_>) -> Option<Xmit> {
        if let Some(outbox) = &mut self.outbox {
            let x = outbox.pop_front();
            if outbox.is_empty() {
                self.outbox = None;
            }
            return x;
        }
        let window = self.snd_wnd.min(self.cc.cwnd);
        let available = window.saturating_sub(self.board.pipe());
        let smss = self.params.smss;
        let next = if available > 0 {
            self.next_seg(self.params.sack && self.state == CongState::Recovery)
        } else {
            None
        };
        let Some(next) = next else {
            return self.poll_fin_or_persist(env);
        };
        let data_after = (self.data_end() - next.seq).max(0) as u32;
        if available < smss && data_after > available {
            return self.poll_fin_or_persist(env);
        }
        // Nagle holds back new small segments only, never a retransmission.
        let new_data = next.seq >= self.high_data();
        let unacked = self.board.sent_bytes() > 0;
        if self.params.nagle && new_data && !self.fin_queued && unacked && data_after < smss {
            return None;
        }
        let x = Xmit {
            len: next.len.min(available),
            ..next
        };
        if new_data {
            Some(self.send_new(env, x))
        } else {
            self.retransmit(env, x.seq)
        }
    }

    /// A bare FIN once all data is out; otherwise arms the persist timer when the peer's
    /// window stops us with nothing in flight (RFC 9293 §3.8.6.1).
    fn poll_fin_or_persist(&mut self, env: &mut Env<'_>) -> Option<Xmit> {
        if self.fin_queued && !self.fin_sent && self.unsent() == 0 {
            let seq = self.data_end();
            return Some(self.send_new(
                env,
                Xmit {
                    seq,
                    len: 0,
                    fin: true,
                },
            ));
        }
        if self.unsent() > 0 && !self.outstanding() && !env.timers.is_set(Timer::Persist) {
            env.timers
                .set(Timer::Persist, env.now + self.persist_interval());
        }
        None
    }

    fn persist_interval(&self) -> SimDuration {
        let shift = self.persist_backoff.min(16);
        self.rtt.rto().saturating_mul(1 << shift).min(PERSIST_MAX)
    }

    /// The persist timer fired: probe a zero window with one byte beyond it, or send what a
    /// small window allows (the SWS override timeout of RFC 9293 §3.8.6.2.1).
    pub(crate) fn on_persist(&mut self, env: &mut Env<'_>) {
        if self.unsent() == 0 || self.outstanding() {
            return;
        }
        let seq = self.high_data();
        if self.snd_wnd == 0 {
            // The probe is not recorded as sent: if the receiver takes the byte, the ACK
            // covers it and the send buffer moves past it.
            self.snd_max = self.snd_max.max(seq + 1);
            self.defer(Xmit {
                seq,
                len: 1,
                fin: false,
            });
            self.persist_backoff += 1;
            env.timers
                .set(Timer::Persist, env.now + self.persist_interval());
        } else {
            let len = self
                .unsent()
                .min(self.snd_wnd as usize)
                .min(self.params.smss as usize) as u32;
            let x = self.send_new(
                env,
                Xmit {
                    seq,
                    len,
                    fin: false,
                },
            );
            self.defer(x);
        }
    }

    /// ns-3 `ReTxTimeout` (RFC 6298 §5.4-5.7, RFC 5681 §3.1 eq. 4, RFC 6675 §5.1).
    pub(crate) fn on_rto(&mut self, env: &mut Env<'_>) -> RtoOutcome {
        if !self.outstanding() {
            return RtoOutcome::Idle;
        }
        if self.timeouts >= self.params.max_retransmissions {
            return RtoOutcome::GiveUp;
        }
        self.timeouts += 1;
        env.stats.timeouts += 1;
        // (5.5) back off; (5.6) the timer restarts when the retransmission is sent.
        self.rtt.backoff();
        if self.board.is_empty() {
            // Only the FIN is outstanding.
            self.fin_sent = false;
            return RtoOutcome::Retransmit;
        }
        let flight = self.board.pipe();
        self.dupacks = 0;
        // Everything unSACKed is lost; forget the guessed Reno SACKs.
        self.board.mark_all_lost(!self.params.sack);
        // RFC 6582 §3.2 step 2 / RFC 6675 §5.1: RecoveryPoint = HighData after an RTO.
        self.recover = self.high_data();
        self.recover_active = true;
        self.rtt_holdoff = Some(self.high_data());
        // RFC 5681 eq. 4 with ns-3's pipe as FlightSize; LW = 1 segment (RFC 5681 §3.1).
        self.cc.ssthresh = NewReno::loss_ssthresh(self.params.smss, flight);
        self.cc.cwnd = self.params.smss;
        self.state = CongState::Loss;
        RtoOutcome::Retransmit
    }

    #[cfg(test)]
    pub(crate) fn heap_bytes(&self) -> usize {
        let outbox = self.outbox.as_ref().map_or(0, |outbox| {
            size_of::<VecDeque<Xmit>>() + outbox.capacity() * size_of::<Xmit>()
        });
        self.buf.capacity() + outbox + self.board.heap_bytes()
    }

    /// Releases buffer memory once it is mostly drained.
    fn shrink(&mut self) {
        if self.buf.is_empty() {
            self.buf = VecDeque::new();
        } else if self.buf.capacity() > 64 * 1024 && self.buf.len() < self.buf.capacity() / 4 {
            self.buf.shrink_to(self.buf.len() * 2);
        }
    }
}

/// Our timestamp clock (RFC 7323 §5.4): milliseconds since the start of the run, as ns-3's
/// `TcpOptionTS::NowToTsValue`.
pub(crate) fn ts_now(now: SimTime) -> u32 {
    (now.as_nanos() / 1_000_000) as u32
}
