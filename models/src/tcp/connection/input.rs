//! Segment arrival: RFC 9293 §3.10.7 "SEGMENT ARRIVES", with RFC 5961 challenge ACKs,
//! RFC 7323 PAWS and timestamps, and the delayed-ACK policy of RFC 5681 §4.2.

use sim::SimTime;

use super::{Connection, Reset};
use crate::tcp::timer::Timer;
use crate::tcp::tx::Env;
use crate::tcp::{ConnectionError, Event, State, reset_for};
use crate::wire::{TcpControl, TcpRepr, TcpSeqNumber};

impl Connection {
    /// Processes one segment for this connection (RFC 9293 §3.10.7).
    pub fn handle_segment(&mut self, now: SimTime, repr: &TcpRepr, payload: &[u8]) {
        match self.state {
            State::Closed | State::Listen => {
                // The segment is for our 4-tuple, so the reset's ports are ours.
                self.rst_pending = reset_for(repr, payload.len()).map(|rst| Reset {
                    seq: rst.seq_number,
                    ack: rst.ack_number,
                });
            }
            State::SynSent => self.on_syn_sent(now, repr),
            _ => self.on_synchronized(now, repr, payload),
        }
        self.sync(now);
    }

    /// RFC 9293 §3.10.7.3.
    fn on_syn_sent(&mut self, now: SimTime, repr: &TcpRepr) {
        let rst = repr.control == TcpControl::Rst;
        if let Some(ack) = repr.ack_number {
            if ack != self.iss + 1 {
                if !rst {
                    self.rst_pending = Some(Reset::bare(ack));
                }
                return;
            }
            if rst {
                self.fail(ConnectionError::Refused);
                return;
            }
        }
        if repr.control != TcpControl::Syn {
            return;
        }
        self.take_syn(repr);
        if repr.ack_number.is_some() {
            self.handshake_rtt(now, repr);
            self.establish(now);
            self.ack_now = true;
        } else {
            // Simultaneous open (RFC 9293 §3.5, figure 8): answer with SYN-ACK.
            self.state = State::SynReceived;
            self.syn_pending = true;
        }
    }

    /// Whether a segment of `len` sequence numbers at `seq` falls in the receive window
    /// (RFC 9293 §3.10.7.4, first check).
    fn acceptable(&self, seq: TcpSeqNumber, len: usize) -> bool {
        let nxt = self.rx.nxt();
        let wnd = self.rx.window() as usize;
        let in_window = |s: TcpSeqNumber| nxt <= s && s < nxt + wnd;
        match (len, wnd) {
            (0, 0) => seq == nxt,
            (0, _) => in_window(seq),
            (_, 0) => false,
            _ => in_window(seq) || in_window(seq + (len - 1)),
        }
    }

    /// RFC 9293 §3.10.7.4: segment arrives in SYN-RECEIVED or a later state.
    fn on_synchronized(&mut self, now: SimTime, repr: &TcpRepr, payload: &[u8]) {
        let rst = repr.control == TcpControl::Rst;
        if let Some(ka) = self
            .cfg
            .keepalive()
            .filter(|_| self.timers.is_set(Timer::Keepalive))
        {
            self.keepalive_probes = 0;
            self.set_timer(Timer::Keepalive, now, ka.idle);
        }
        // RFC 7323 §5.3 PAWS: a segment with an older timestamp than TS.Recent is a
        // duplicate from an earlier incarnation of the sequence space.
        if let (true, false, Some((tsval, _))) = (self.opts.timestamps, rst, repr.timestamp)
            && (tsval.wrapping_sub(self.ts_recent) as i32) < 0
        {
            self.ack_now = true;
            return;
        }
        let seq = repr.seq_number;
        if !self.acceptable(seq, repr.segment_len()) {
            if rst {
                return;
            }
            if self.state == State::TimeWait && repr.control == TcpControl::Fin {
                // RFC 9293 §3.10.7.4 eighth check: a retransmitted FIN restarts 2 MSL.
                self.set_timer(Timer::TimeWait, now, self.cfg.time_wait);
            }
            self.ack_now = true;
            // A zero window accepts no data, but the ACK field is still valid.
            if seq == self.rx.nxt() && self.state != State::SynReceived {
                self.on_ack_field(now, repr, false);
            }
            return;
        }
        if rst {
            // RFC 5961 §3.2: reset only on an exact match; otherwise a challenge ACK.
            if seq == self.rx.nxt() {
                match self.state {
                    State::Closing | State::LastAck | State::TimeWait => self.close_fully(),
                    _ => self.fail(ConnectionError::Reset),
                }
            } else {
                self.ack_now = true;
            }
            return;
        }
        if repr.control == TcpControl::Syn {
            if self.state == State::SynReceived && seq == self.irs {
                // Our SYN-ACK was lost: the peer retransmitted its SYN.
                self.syn_pending = true;
            } else {
                // RFC 5961 §4.2: challenge ACK for a SYN in a synchronized state.
                self.ack_now = true;
            }
            return;
        }
        if repr.ack_number.is_none() {
            return;
        }
        if self.state == State::SynReceived && !self.on_handshake_ack(now, repr) {
            return;
        }
        if !self.on_ack_field(now, repr, !payload.is_empty()) {
            return;
        }
        // Check timestamps after the ACK is accepted (RFC 7323 §4.3): TS.Recent follows the
        // segment that starts at the left edge, if it is not after Last.ACK.sent.
        if let (true, Some((tsval, _))) = (self.opts.timestamps, repr.timestamp)
            && seq == self.rx.nxt()
            && seq <= self.last_ack_sent
        {
            self.ts_recent = tsval;
        }
        self.on_text(now, repr, payload);
    }

    /// SYN-RECEIVED: the ACK completes the handshake or earns a reset.
    fn on_handshake_ack(&mut self, now: SimTime, repr: &TcpRepr) -> bool {
        let ack = repr.ack_number.expect("checked by the caller");
        if ack != self.iss + 1 {
            self.rst_pending = Some(Reset::bare(ack));
            return false;
        }
        self.handshake_rtt(now, repr);
        self.tx
            .init_window(self.peer_window(repr), repr.seq_number, ack);
        self.establish(now);
        true
    }

    fn peer_window(&self, repr: &TcpRepr) -> u32 {
        u32::from(repr.window_len) << self.opts.snd_shift
    }

    /// The ACK field in a synchronized state (RFC 9293 §3.10.7.4, fifth check). Returns
    /// false if the segment must be dropped.
    fn on_ack_field(&mut self, now: SimTime, repr: &TcpRepr, has_data: bool) -> bool {
        let Some(ack) = repr.ack_number else {
            return false;
        };
        if ack > self.tx.snd_max() {
            // Acknowledges something not yet sent: ACK and drop.
            self.ack_now = true;
            return false;
        }
        if ack < self.tx.una() {
            // An old duplicate: ignore the ACK, keep the text.
            return true;
        }
        let mut env = Env {
            now,
            timers: &mut self.timers,
            stats: &mut self.stats,
        };
        self.tx.update_window(
            repr.seq_number,
            ack,
            u32::from(repr.window_len) << self.opts.snd_shift,
            env.timers,
        );
        let mut sack = [(TcpSeqNumber(0), TcpSeqNumber(0)); 4];
        let mut blocks = 0;
        for (left, right) in repr.sack_ranges.iter().flatten() {
            sack[blocks] = (TcpSeqNumber(*left), TcpSeqNumber(*right));
            blocks += 1;
        }
        let tsecr = repr
            .timestamp
            .filter(|_| self.opts.timestamps)
            .map(|(_, e)| e);
        let freed = self
            .tx
            .on_ack(&mut env, ack, &sack[..blocks], has_data, tsecr);
        if freed > 0 && self.writable_wanted && self.tx.space() > 0 {
            self.writable_wanted = false;
            self.events.push_back(Event::Writable);
        }
        if self.tx.fin_acked() {
            match self.state {
                State::FinWait1 => self.state = State::FinWait2,
                State::Closing => self.enter_time_wait(now),
                State::LastAck => {
                    self.close_fully();
                    return false;
                }
                _ => {}
            }
        }
        true
    }

    /// Segment text and FIN (RFC 9293 §3.10.7.4, seventh and eighth checks).
    fn on_text(&mut self, now: SimTime, repr: &TcpRepr, payload: &[u8]) {
        let fin = repr.control == TcpControl::Fin;
        let receiving = matches!(
            self.state,
            State::SynReceived | State::Established | State::FinWait1 | State::FinWait2
        );
        if !receiving || (payload.is_empty() && !fin) {
            return;
        }
        let had_fin = self.rx.fin_done();
        let accepted = self.rx.accept(repr.seq_number, payload, fin);
        if accepted.delivered > 0 {
            self.stats.bytes_received += accepted.delivered as u64;
            if self.events.back() != Some(Event::Readable) {
                self.events.push_back(Event::Readable);
            }
        }
        if !payload.is_empty() {
            self.ack_policy(
                now,
                accepted.stored && !accepted.gap && !accepted.filled_gap,
            );
        }
        if self.rx.fin_done() && !had_fin {
            self.ack_now = true;
            self.events.push_back(Event::PeerFinished);
            match self.state {
                State::SynReceived | State::Established => self.state = State::CloseWait,
                State::FinWait1 if self.tx.fin_acked() => self.enter_time_wait(now),
                State::FinWait1 => self.state = State::Closing,
                State::FinWait2 => self.enter_time_wait(now),
                _ => {}
            }
        } else if fin {
            // An out-of-order FIN: acknowledge what we have at once.
            self.ack_now = true;
        }
    }

    /// RFC 5681 §4.2 / RFC 9293 §3.8.6.3: delay the ACK of in-order data up to
    /// `delayed_ack.segments` segments or `delayed_ack.timeout`; acknowledge at once
    /// out-of-order data, data filling a gap and duplicates.
    fn ack_policy(&mut self, now: SimTime, in_order: bool) {
        let delayed = match self.cfg.delayed_ack {
            Some(d) if in_order && !std::mem::take(&mut self.quick_ack) => d,
            _ => {
                self.ack_now = true;
                return;
            }
        };
        self.delack_count += 1;
        if self.delack_count >= delayed.segments {
            self.ack_now = true;
        } else if !self.timers.is_set(Timer::DelayedAck) {
            self.set_timer(Timer::DelayedAck, now, delayed.timeout);
        }
    }
}
