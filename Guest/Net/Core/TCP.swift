// TCP.swift: TCP connections and listeners (RFC 9293 state machine, RFC 6298 RTO, fast retransmit, Reno-style cwnd).

/// Connection states of RFC 9293 section 3.3.2 (LISTEN is a `TCPListener`, not a state).
public enum TCPState: Equatable {
    case synSent, synReceived, established, finWait1, finWait2, closing, timeWait, closeWait, lastAck, closed
}

/// Why a connection ended other than by an orderly close (`TCPConnection.failure`).
public enum TCPFailure: Equatable {
    /// `connect`: the peer answered the SYN with a reset (nothing listens on that port), or an
    /// ICMP port or protocol unreachable came back.
    case refused
    /// No answer: `connect`'s SYN went unanswered `NetStack.connectRetries` times, or data went
    /// unacknowledged `NetStack.maxRetries` times on an open connection.
    case timedOut
    /// `connect`: the next hop (the destination, or the gateway when it is off-link) never answered ARP,
    /// or an ICMP destination unreachable (net, host, prohibited...) came back for the SYN.
    case unreachable
    /// The peer reset an open connection.
    case reset
}

/// A listening port: completed connections wait in `accept()`'s queue.
/// Half-open plus not-yet-accepted connections are bounded by `backlog`;
/// SYNs beyond it are dropped (the peer retries).
public final class TCPListener {
    public let port: UInt16
    public let backlog: Int
    var queue: [TCPConnection] = []
    var halfOpen = 0
    var closed = false

    init(port: UInt16, backlog: Int) {
        self.port = port
        self.backlog = max(1, backlog)
    }

    /// The next established connection, or nil.
    public func accept() -> TCPConnection? {
        guard !queue.isEmpty else { return nil }
        return queue.removeFirst()
    }

    /// Connections waiting to be accepted.
    public var pending: Int { queue.count }
}

/// One TCP connection. Reads and writes never block: `read` returns what has
/// arrived, `write` takes what fits in the send buffer; drive the stack
/// (`Network.poll`) to move data.
public final class TCPConnection {
    let stack: NetStack             // a cycle with the stack's table: NetStack.shutdown() breaks it (Embedded Swift has no unowned)
    public let localPort: UInt16
    public let remoteAddress: IPv4Address
    public let remotePort: UInt16
    public internal(set) var state: TCPState = .synReceived
    /// True when the connection ended by a reset (received, or sent after too many retransmissions).
    public internal(set) var wasReset = false
    /// Why the connection failed; nil while it is connecting or open, and after an orderly close.
    public internal(set) var failure: TCPFailure? = nil
    /// True for a connection we opened (`NetStack.connect`), false for one a listener accepted.
    public internal(set) var isActive = false
    var listener: TCPListener?

    // Send side (RFC 9293 names). sendQueue holds the bytes from sndUna on.
    var iss: UInt32 = 0
    var sndUna: UInt32 = 0
    var sndNxt: UInt32 = 0
    var sndMax: UInt32 = 0          // highest sequence number sent (+1)
    var sndWnd: UInt32 = 0
    /// The peer's window scale shift (RFC 7323): its windows count in units of 2^shift. We offer
    /// shift 0 when the peer offers scaling, so our own windows stay unscaled (64 KiB at most) while
    /// the peer's may exceed 64 KiB: more data in flight towards it.
    var sndShift: UInt32 = 0
    var offeredScaling = false
    var sndWl1: UInt32 = 0
    var sndWl2: UInt32 = 0
    var sendQueue = ByteQueue()
    let sendCapacity: Int
    var finQueued = false
    var finSent = false
    var mss = 536
    var cwnd = 0
    var ssthresh = 1 << 30
    var dupAcks = 0
    var inFastRecovery = false
    var recover: UInt32 = 0

    // Receive side.
    var irs: UInt32 = 0
    var rcvNxt: UInt32 = 0
    var receiveQueue = ByteQueue()
    let receiveCapacity: Int
    var outOfOrder: [(seq: UInt32, data: [UInt8])] = []
    var peerFinished = false
    var advertised: UInt32 = 0
    /// An ACK is owed; it goes out with the next segment, or on its own when the stack's output is taken.
    var ackPending = false

    // Timers (nanoseconds, monotonic).
    var rto: UInt64 = 1_000_000_000
    var srtt: UInt64 = 0
    var rttvar: UInt64 = 0
    var haveRTT = false
    var rttSeq: UInt32? = nil
    var rttStart: UInt64 = 0
    var retransmitAt: UInt64? = nil
    var retries = 0
    var timeWaitUntil: UInt64? = nil

    init(stack: NetStack, localPort: UInt16, remoteAddress: IPv4Address, remotePort: UInt16,
         sendCapacity: Int, receiveCapacity: Int) {
        self.stack = stack
        self.localPort = localPort
        self.remoteAddress = remoteAddress
        self.remotePort = remotePort
        self.sendCapacity = sendCapacity
        self.receiveCapacity = receiveCapacity
    }

    // MARK: the application's side

    /// True while an active open (`connect`) waits for the handshake to finish: poll until it is
    /// false, then `failure` says whether it failed.
    public var isConnecting: Bool { state == .synSent || (state == .synReceived && isActive) }

    /// Bytes received and not yet read.
    public var available: Int { receiveQueue.count }

    /// True when the peer has closed its side and everything it sent has been read.
    public var isReadClosed: Bool { (peerFinished || state == .closed) && receiveQueue.isEmpty }

    /// True when the connection is gone (closed, reset or in TIME_WAIT).
    public var isClosed: Bool { state == .closed || state == .timeWait }

    /// Free room in the send buffer.
    public var writable: Int {
        switch state {
        case .established, .closeWait, .synSent: return finQueued ? 0 : max(0, sendCapacity - sendQueue.count)
        case .synReceived where isActive: return finQueued ? 0 : max(0, sendCapacity - sendQueue.count)
        default: return 0
        }
    }

    /// Bytes written but not yet acknowledged by the peer.
    public var unacknowledged: Int { sendQueue.count }

    /// Takes up to `max` received bytes (empty if none).
    public func read(max n: Int = Int.max) -> [UInt8] {
        let before = receiveWindow
        let out = receiveQueue.take(max: n)
        // Tell the peer when the window opens a lot (RFC 9293 3.8.6.2.2, receiver side SWS avoidance).
        if !out.isEmpty && isSynchronized && receiveWindow - before >= UInt32(min(receiveCapacity / 2, mss)) && before < UInt32(receiveCapacity / 2) {
            sendAck()
        }
        return out
    }

    /// Queues `bytes[from..<to]` for sending; returns how many were taken (may be 0).
    @discardableResult
    public func write(_ bytes: [UInt8], from: Int = 0, to: Int? = nil) -> Int {
        let end = min(to ?? bytes.count, bytes.count)
        let n = min(writable, max(0, end - from))
        guard n > 0 else { return 0 }
        sendQueue.append(bytes, from: from, to: from + n)
        output(now: stack.now)
        return n
    }

    /// Closes our side after the queued data (FIN). Reading stays possible until the peer closes.
    /// While connecting, the FIN waits for the handshake (use `abort()` to give up at once).
    public func close() {
        switch state {
        case .synSent, .synReceived, .established, .closeWait:
            finQueued = true
            output(now: stack.now)
        default:
            break
        }
    }

    /// Resets the connection at once (RST), dropping queued data.
    public func abort() {
        if isSynchronized || state == .synReceived {
            stack.sendTCP(self, seq: sndNxt, flags: .rst | .ack, dataOffset: 0, dataLength: 0)
        }
        enterClosed(reset: true)
    }

    // MARK: the stack's side

    var isSynchronized: Bool {
        switch state {
        case .established, .finWait1, .finWait2, .closing, .timeWait, .closeWait, .lastAck: return true
        default: return false
        }
    }

    var receiveWindow: UInt32 { UInt32(max(0, min(65535, receiveCapacity - receiveQueue.count))) }

    func enterClosed(reset: Bool, failure why: TCPFailure? = nil) {
        if state == .synReceived, let l = listener { l.halfOpen = max(0, l.halfOpen - 1) }
        if reset { wasReset = true }
        if let why, failure == nil { failure = why }
        state = .closed
        retransmitAt = nil
        timeWaitUntil = nil
        sendQueue = ByteQueue()
        outOfOrder = []
        listener = nil
    }

    func enterTimeWait(now: UInt64) {
        state = .timeWait
        retransmitAt = nil
        timeWaitUntil = now &+ stack.timeWaitNanoseconds
        sendQueue = ByteQueue()
        outOfOrder = []
    }

    func sendAck() {
        stack.sendTCP(self, seq: sndNxt, flags: .ack, dataOffset: 0, dataLength: 0)
    }

    /// ACKs received data a little later: when the application answers in the same turn of the
    /// event loop, the ACK rides on its data (NetStack.takeOutput sends what is still owed).
    func scheduleAck() {
        if !ackPending {
            ackPending = true
            stack.pendingAcks.append(self)
        }
    }

    /// Called for a SYN that a listener admitted: sends the SYN-ACK.
    func openPassive(syn: TCPSegment, iss: UInt32, now: UInt64) {
        self.iss = iss
        irs = syn.sequence
        rcvNxt = syn.sequence &+ 1
        sndUna = iss; sndNxt = iss &+ 1; sndMax = sndNxt
        sndWnd = UInt32(syn.window); sndWl1 = syn.sequence; sndWl2 = iss    // a SYN's window is never scaled
        if let ws = syn.windowScale { offeredScaling = true; sndShift = UInt32(min(ws, 14)) }
        mss = Int(min(syn.mss ?? 536, UInt16(stack.mss)))
        if mss < 64 { mss = 64 }
        cwnd = 10 * mss
        stack.sendTCP(self, seq: iss, flags: .syn | .ack, dataOffset: 0, dataLength: 0, mss: UInt16(stack.mss), windowScale: offeredScaling)
        retransmitAt = now &+ rto
    }

    /// `NetStack.connect`: sends the SYN (RFC 9293 3.10.1, OPEN in CLOSED state) and enters SYN-SENT.
    /// It offers our MSS and window scaling (shift 0); retransmitted on the RTO, `connectRetries` times.
    func openActive(iss: UInt32, now: UInt64) {
        isActive = true
        state = .synSent
        self.iss = iss
        sndUna = iss; sndNxt = iss &+ 1; sndMax = sndNxt
        rttSeq = sndNxt; rttStart = now                 // the handshake's round trip is the first RTT sample
        sendSyn()
        retransmitAt = now &+ rto
    }

    func sendSyn() {
        stack.sendTCP(self, seq: iss, flags: .syn, dataOffset: 0, dataLength: 0, mss: UInt16(stack.mss), windowScale: true)
    }

    /// A segment in SYN-SENT (RFC 9293 3.10.7.3).
    func receiveInSynSent(_ seg: TCPSegment, frame f: [UInt8], now: UInt64) {
        let hasAck = seg.flags.has(.ack)
        if hasAck && (seqLE(seg.acknowledgment, iss) || seqGT(seg.acknowledgment, sndNxt)) {
            // Acknowledges something we never sent (an old connection's segment, or a confused peer).
            if !seg.flags.has(.rst) { stack.sendReset(to: seg, source: remoteAddress, frameLength: 0) }
            return
        }
        if seg.flags.has(.rst) {
            // Only a reset that acknowledges our SYN refuses the connection; others are dropped.
            if hasAck { enterClosed(reset: true, failure: .refused) }
            return
        }
        guard seg.flags.has(.syn) else { return }
        irs = seg.sequence
        rcvNxt = seg.sequence &+ 1
        if let ws = seg.windowScale { offeredScaling = true; sndShift = UInt32(min(ws, 14)) }
        mss = Int(min(seg.mss ?? 536, UInt16(stack.mss)))
        if mss < 64 { mss = 64 }
        cwnd = 10 * mss
        sndWnd = UInt32(seg.window); sndWl1 = seg.sequence          // a SYN's window is never scaled
        guard hasAck else {
            // Simultaneous open (RFC 9293 figure 8): both sent SYNs. Answer with a SYN-ACK.
            state = .synReceived
            stack.sendTCP(self, seq: iss, flags: .syn | .ack, dataOffset: 0, dataLength: 0, mss: UInt16(stack.mss), windowScale: offeredScaling)
            return
        }
        sndUna = seg.acknowledgment; sndWl2 = seg.acknowledgment
        if retries == 0, rttSeq != nil { sampleRTT(now &- rttStart) }
        else if !haveRTT { rto = min(3_000_000_000, stack.maximumRTO) }   // RFC 6298 5.7: the SYN was retransmitted
        rttSeq = nil
        retransmitAt = nil; retries = 0
        state = .established
        // Data (or a FIN) on the SYN-ACK starts one past the SYN.
        var rest = seg
        rest.sequence = seg.sequence &+ 1
        rest.flags = TCPFlags(raw: seg.flags.raw & ~TCPFlags.syn.raw)
        processData(rest, frame: f, now: now)
        // The handshake's ACK: on the first data segment when the application already wrote, else alone.
        ackPending = true
        output(now: now)
        if ackPending { sendAck() }
    }

    /// RFC 9293 3.10.7.4: the segment acceptability test.
    func acceptable(_ seg: TCPSegment) -> Bool {
        let len = UInt32(seg.sequenceLength)
        let wnd = receiveWindow
        let seq = seg.sequence
        if len == 0 {
            if wnd == 0 { return seq == rcvNxt }
            return seqLE(rcvNxt, seq) && seqLT(seq, rcvNxt &+ wnd)
        }
        if wnd == 0 { return false }
        let last = seq &+ len &- 1
        return (seqLE(rcvNxt, seq) && seqLT(seq, rcvNxt &+ wnd)) || (seqLE(rcvNxt, last) && seqLT(last, rcvNxt &+ wnd))
    }

    /// Processes one incoming segment for this connection.
    func receive(_ seg: TCPSegment, frame f: [UInt8], now: UInt64) {
        if state == .closed { return }
        if state == .synSent { receiveInSynSent(seg, frame: f, now: now); return }
        if state == .synReceived {
            var seg = seg
            if isActive && seg.flags.has(.syn) && seg.flags.has(.ack) && seg.sequence == irs {
                // Simultaneous open: the peer's SYN-ACK acknowledges ours; its SYN we already have.
                seg.sequence = irs &+ 1
                seg.flags = TCPFlags(raw: seg.flags.raw & ~TCPFlags.syn.raw)
            }
            if seg.flags.has(.rst) {
                // RFC 9293 3.10.7.4: from an active open, the connection was refused.
                if seqGE(seg.sequence, rcvNxt) && seqLT(seg.sequence, rcvNxt &+ receiveWindow) {
                    enterClosed(reset: true, failure: isActive ? .refused : .reset)
                }
                return
            }
            if seg.flags.has(.syn) && !seg.flags.has(.ack) {
                if seg.sequence == irs {       // the peer's SYN again: our SYN-ACK was lost
                    stack.sendTCP(self, seq: iss, flags: .syn | .ack, dataOffset: 0, dataLength: 0, mss: UInt16(stack.mss), windowScale: offeredScaling)
                }
                return
            }
            guard seg.flags.has(.ack) else { return }
            guard seg.acknowledgment == iss &+ 1 else {
                stack.sendReset(to: seg, source: remoteAddress, frameLength: 0)
                return
            }
            guard acceptable(seg) else { sendAck(); return }
            state = .established
            sndUna = seg.acknowledgment
            sndWnd = UInt32(seg.window) << sndShift; sndWl1 = seg.sequence; sndWl2 = seg.acknowledgment
            retransmitAt = nil; retries = 0
            if let l = listener {
                l.halfOpen = max(0, l.halfOpen - 1)
                if l.closed { abort(); return }
                l.queue.append(self)
            }
            listener = nil
            // Fall through: the ACK may carry data or a FIN.
            processData(seg, frame: f, now: now)
            output(now: now)
            return
        }

        // Synchronized states.
        if !acceptable(seg) {
            if !seg.flags.has(.rst) { sendAck() }     // out of window: re-ACK and drop
            stack.stats.tcpOutOfWindow += 1
            return
        }
        if seg.flags.has(.rst) {
            // RFC 5961 3.2: only an exact match resets; in-window otherwise gets a challenge ACK.
            if seg.sequence == rcvNxt { enterClosed(reset: true, failure: .reset) } else { sendAck() }
            return
        }
        if seg.flags.has(.syn) {
            sendAck()                                  // RFC 5961 4.2: challenge ACK
            return
        }
        guard seg.flags.has(.ack) else { return }
        if !processAck(seg, now: now) { return }
        if state == .closed || state == .timeWait && !seg.flags.has(.fin) && seg.dataLength == 0 { return }
        processData(seg, frame: f, now: now)
        output(now: now)
    }

    /// ACK field processing (RFC 9293 3.10.7.4, fifth check). False: drop the segment.
    func processAck(_ seg: TCPSegment, now: UInt64) -> Bool {
        let ack = seg.acknowledgment
        if seqGT(ack, sndMax) {                       // acknowledges something never sent
            sendAck()
            return false
        }
        if seqGT(ack, sndUna) {
            let acked = Int(ack &- sndUna)
            let dataAcked = min(acked, sendQueue.count)
            sendQueue.drop(dataAcked)
            let finAcked = finSent && ack == sndMax
            if let rs = rttSeq, seqGE(ack, rs) {
                sampleRTT(now &- rttStart)
                rttSeq = nil
            }
            sndUna = ack
            if seqLT(sndNxt, sndUna) { sndNxt = sndUna }
            retries = 0
            if inFastRecovery {
                if seqGE(ack, recover) { inFastRecovery = false; cwnd = ssthresh }
                else {                                 // partial ACK (RFC 6582): resend the next hole
                    retransmitFirst()
                    cwnd = max(mss, cwnd - min(cwnd, dataAcked) + mss)
                }
            } else if cwnd < ssthresh {
                cwnd += min(dataAcked, mss)
            } else {
                cwnd += max(1, mss * mss / max(cwnd, 1))
            }
            dupAcks = 0
            retransmitAt = sndMax != sndUna ? now &+ rto : nil
            if finAcked {
                switch state {
                case .finWait1: state = .finWait2
                case .closing: enterTimeWait(now: now)
                case .lastAck: enterClosed(reset: false); return false
                default: break
                }
            }
        } else if ack == sndUna && seg.dataLength == 0 && !seg.flags.has(.fin) && sndMax != sndUna
                    && UInt32(seg.window) << sndShift == sndWnd {
            dupAcks += 1
            if dupAcks == 3 && !inFastRecovery {       // fast retransmit (RFC 5681 3.2)
                let flight = Int(sndMax &- sndUna)
                ssthresh = max(flight / 2, 2 * mss)
                cwnd = ssthresh + 3 * mss
                inFastRecovery = true
                recover = sndMax
                stack.stats.tcpFastRetransmits += 1
                retransmitFirst()
            } else if dupAcks > 3 {
                cwnd += mss
            }
        }
        // Window update (RFC 9293: SND.WL1/WL2 guard against old segments).
        if seqLT(sndWl1, seg.sequence) || (sndWl1 == seg.sequence && seqLE(sndWl2, ack)) {
            sndWnd = UInt32(seg.window) << sndShift; sndWl1 = seg.sequence; sndWl2 = ack
        }
        return true
    }

    func sampleRTT(_ r: UInt64) {
        if !haveRTT {
            srtt = r; rttvar = r / 2; haveRTT = true
        } else {
            let diff = srtt > r ? srtt - r : r - srtt
            rttvar = (3 * rttvar + diff) / 4
            srtt = (7 * srtt + r) / 8
        }
        let g: UInt64 = 1_000_000   // clock granularity: 1 ms
        rto = min(max(srtt + max(g, 4 * rttvar), stack.minimumRTO), stack.maximumRTO)
    }

    /// Text, then FIN (RFC 9293 3.10.7.4, seventh and eighth checks).
    func processData(_ seg: TCPSegment, frame f: [UInt8], now: UInt64) {
        var fin = seg.flags.has(.fin)
        if seg.dataLength > 0 {
            switch state {
            case .established, .finWait1, .finWait2: break
            default: return                             // after the peer's FIN: ignore text
            }
            var seq = seg.sequence
            var start = seg.dataStart
            if seqLT(seq, rcvNxt) {                     // already have the front of it
                let skip = Int(rcvNxt &- seq)
                if skip >= seg.dataLength { start = seg.dataEnd } else { start += skip }
                seq = rcvNxt
            }
            let room = Int(receiveWindow)
            if seq == rcvNxt {
                let take = min(seg.dataEnd - start, room)
                if take > 0 {
                    receiveQueue.append(f, from: start, to: start + take)
                    rcvNxt = rcvNxt &+ UInt32(take)
                }
                if take < seg.dataEnd - start { fin = false }
                drainOutOfOrder()
            } else {
                // Out of order: keep it (bounded) for when the hole fills.
                let offset = Int(seq &- rcvNxt)
                let take = min(seg.dataEnd - start, room - offset)
                if take > 0 && outOfOrder.count < 32 && !outOfOrder.contains(where: { $0.seq == seq }) {
                    outOfOrder.append((seq, Array(f[start..<(start + take)])))
                    stack.stats.tcpOutOfOrder += 1
                }
                fin = false
            }
            scheduleAck()
        } else if fin && seg.sequence != rcvNxt {
            fin = false
        }
        if fin && seg.sequence &+ UInt32(seg.dataLength) == rcvNxt {
            rcvNxt = rcvNxt &+ 1
            peerFinished = true
            switch state {
            case .established: state = .closeWait
            case .finWait1: if finSent && sndUna == sndMax { enterTimeWait(now: now) } else { state = .closing }
            case .finWait2: enterTimeWait(now: now)
            case .timeWait: timeWaitUntil = now &+ stack.timeWaitNanoseconds
            default: break
            }
            scheduleAck()
        } else if seg.flags.has(.fin) && state == .timeWait {
            sendAck()                                   // retransmitted FIN: ACK it again
        }
    }

    func drainOutOfOrder() {
        var progress = true
        while progress && !outOfOrder.isEmpty {
            progress = false
            var i = 0
            while i < outOfOrder.count {
                let (seq, data) = outOfOrder[i]
                let end = seq &+ UInt32(data.count)
                if seqLE(end, rcvNxt) {
                    outOfOrder.remove(at: i)           // fully duplicate
                    continue
                }
                if seqLE(seq, rcvNxt) {
                    let skip = Int(rcvNxt &- seq)
                    let take = min(data.count - skip, Int(receiveWindow))
                    if take > 0 {
                        receiveQueue.append(data, from: skip, to: skip + take)
                        rcvNxt = rcvNxt &+ UInt32(take)
                    }
                    outOfOrder.remove(at: i)
                    progress = true
                    continue
                }
                i += 1
            }
        }
    }

    /// Sends what the windows allow: new data, then the FIN.
    func output(now: UInt64) {
        switch state {
        case .established, .closeWait, .finWait1, .closing, .lastAck: break
        case .synReceived:
            return
        default: return
        }
        while true {
            let inFlight = Int(sndNxt &- sndUna)
            let sentData = min(inFlight, sendQueue.count)
            let unsent = sendQueue.count - sentData
            let window = min(Int(sndWnd), cwnd)
            if unsent > 0 {
                let room = window - inFlight
                if room <= 0 {
                    if retransmitAt == nil { retransmitAt = now &+ rto }   // persist timer for a zero window
                    return
                }
                let len = min(unsent, mss, room)
                // Sender SWS avoidance: don't send a small piece into a small window while data is in flight.
                if len < mss && len < unsent && inFlight > 0 { return }
                let flags: TCPFlags = len == unsent ? .ack | .psh : .ack
                stack.sendTCP(self, seq: sndNxt, flags: flags, dataOffset: sentData, dataLength: len)
                if rttSeq == nil && sndNxt == sndMax { rttSeq = sndNxt &+ UInt32(len); rttStart = now }
                sndNxt = sndNxt &+ UInt32(len)
                if seqGT(sndNxt, sndMax) { sndMax = sndNxt }
                if retransmitAt == nil { retransmitAt = now &+ rto }
                continue
            }
            if finQueued && sndNxt == sndUna &+ UInt32(sendQueue.count) {
                stack.sendTCP(self, seq: sndNxt, flags: .fin | .ack, dataOffset: 0, dataLength: 0)
                sndNxt = sndNxt &+ 1
                if seqGT(sndNxt, sndMax) { sndMax = sndNxt }
                finSent = true
                if state == .established { state = .finWait1 }
                if state == .closeWait { state = .lastAck }
                if retransmitAt == nil { retransmitAt = now &+ rto }
            }
            return
        }
    }

    /// Resends the first unacknowledged segment (RTO, fast retransmit, partial ACKs): at most one MSS
    /// of data that was sent before, never bytes past SND.MAX, which the peer's window may not allow.
    /// Returns the sequence space it covers.
    @discardableResult
    func retransmitFirst() -> Int {
        let len = min(sendQueue.count, mss, Int(sndMax &- sndUna))
        if len > 0 {
            stack.sendTCP(self, seq: sndUna, flags: .ack, dataOffset: 0, dataLength: len)
        } else if finSent {
            stack.sendTCP(self, seq: sndUna, flags: .fin | .ack, dataOffset: 0, dataLength: 0)
        }
        stack.stats.tcpRetransmits += 1
        rttSeq = nil                                    // Karn: no samples from retransmitted data
        return len > 0 ? len : (finSent ? 1 : 0)
    }

    /// The retransmission / persist / TIME_WAIT timers.
    func timers(now: UInt64) {
        if let t = timeWaitUntil, now >= t {
            enterClosed(reset: false)
            return
        }
        guard let t = retransmitAt, now >= t else { return }
        if state == .synSent {
            // RFC 6298 5.5-5.6 for the SYN: back off and resend; give up after connectRetries.
            retries += 1
            rttSeq = nil                                // Karn: no sample from a retransmitted SYN
            if retries > stack.connectRetries { enterClosed(reset: false, failure: .timedOut); return }
            rto = min(rto * 2, stack.maximumRTO)
            stack.stats.tcpRetransmits += 1
            sendSyn()
            retransmitAt = now &+ rto
            return
        }
        if state == .synReceived {
            retries += 1
            if retries > stack.synRetries { enterClosed(reset: false, failure: isActive ? .timedOut : nil); return }
            rto = min(rto * 2, stack.maximumRTO)
            stack.sendTCP(self, seq: iss, flags: .syn | .ack, dataOffset: 0, dataLength: 0, mss: UInt16(stack.mss), windowScale: offeredScaling)
            retransmitAt = now &+ rto
            return
        }
        let inFlight = Int(sndMax &- sndUna)
        if inFlight == 0 {
            if sendQueue.count > 0 && sndWnd == 0 {     // zero-window probe: one byte past the window
                stack.sendTCP(self, seq: sndNxt, flags: .ack, dataOffset: 0, dataLength: 1)
                sndNxt = sndNxt &+ 1; sndMax = sndNxt
                rto = min(rto * 2, stack.maximumRTO)
                retransmitAt = now &+ rto
            } else {
                retransmitAt = nil
                output(now: now)
            }
            return
        }
        retries += 1
        if retries > stack.maxRetries {
            abort()
            failure = .timedOut
            return
        }
        // RFC 6298 5.4-5.6 and RFC 5681 (3.1): back off, collapse the window, go back to SND.UNA.
        ssthresh = max(inFlight / 2, 2 * mss)
        cwnd = mss
        inFastRecovery = false
        dupAcks = 0
        rto = min(rto * 2, stack.maximumRTO)
        sndNxt = sndUna &+ UInt32(retransmitFirst())
        retransmitAt = now &+ rto
    }

    /// The earliest timer of this connection.
    var deadline: UInt64? {
        switch (retransmitAt, timeWaitUntil) {
        case let (a?, b?): return min(a, b)
        case let (a?, nil): return a
        case let (nil, b?): return b
        default: return nil
        }
    }
}
