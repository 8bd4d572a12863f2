import Dispatch
import Synchronization
import VoiceprintFeatures
import VoiceprintModel

/// Dynamic batching: utterances that reach the network while it is busy wait a
/// few milliseconds and then share one pass, so 16 concurrent verifies cost
/// one pass over 16 utterances' windows rather than 16 passes (each recurrent
/// step then streams W_hh once for all of them).
///
/// No thread of its own: the thread of one waiting request leads a pass for
/// everyone queued (at most `concurrentPasses` leaders at once) while the others
/// sleep on their tickets. A leader starts at once when no other pass is running,
/// so a lone client never waits; while another pass runs it waits up to
/// `maximumWait` for the batch to fill. A leader whose own utterance is done hands
/// the lead to a waiting request rather than serving everyone else's.
final class EmbeddingBatcher: Sendable {
    let options: BatchingOptions
    let network: InferenceNetwork
    private let state = Mutex(State())

    private struct State {
        var pending: [Ticket] = []
        /// Passes being led (including leaders waiting for their batch to fill).
        var running = 0
        var leaders = Set<ObjectIdentifier>()
        /// Tickets handed the lead that have not taken it up yet.
        var heirs = Set<ObjectIdentifier>()
        /// Leaders waiting for a batch to fill, woken when it is full.
        var filling: [DispatchSemaphore] = []
        var passes = 0
        var utterances = 0
        /// The requester whose utterance last went into a pass first.
        var lastRequester: UInt32?
    }

    private final class Ticket: Sendable {
        let features: FeatureMatrix
        /// Input frames it adds to a pass.
        let frames: Int
        /// Who asked (voiceprintd: the peer's uid): passes take requesters in turn.
        let requester: UInt32
        let wake = DispatchSemaphore(value: 0)
        let result = Mutex<Result<[Float], ModelError>?>(nil)
        init(_ features: FeatureMatrix, frames: Int, requester: UInt32) {
            self.features = features
            self.frames = frames
            self.requester = requester
        }
        var id: ObjectIdentifier { ObjectIdentifier(self) }
    }

    init(network: InferenceNetwork, options: BatchingOptions) {
        self.network = network
        self.options = options
    }

    /// Passes run and utterances embedded so far (their ratio is the mean batch size).
    var statistics: (passes: Int, utterances: Int) { state.withLock { ($0.passes, $0.utterances) } }

    /// The embedding of `features`, computed in some pass; blocks until it is.
    func embed(_ features: FeatureMatrix, requester: UInt32) throws(ModelError) -> [Float] {
        let ticket = Ticket(features, frames: network.inputFrames(of: features), requester: requester)
        let leads = state.withLock { s in
            s.pending.append(ticket)
            if s.pending.count >= options.maximumUtterances { Self.wakeFilling(&s) }
            guard s.running < options.concurrentPasses else { return false }
            s.running += 1
            return true
        }
        if leads { lead(ticket) }
        while true {
            // Handed the lead: take it up even if another pass has meanwhile embedded
            // this utterance, since the hand-over kept a pass counted for it. (A ticket
            // is only made heir while queued, so before it has a result.)
            if state.withLock({ $0.heirs.remove(ticket.id) != nil }) { lead(ticket) }
            if let result = ticket.result.withLock({ $0 }) { return try result.get() }
            ticket.wake.wait()
        }
    }

    /// Runs passes (this thread counted in `running`) until `me` is no longer queued,
    /// then hands the lead to a waiting request or gives the pass slot back.
    private func lead(_ me: Ticket) {
        state.withLock { _ = $0.leaders.insert(me.id) }
        while true {
            let fill: DispatchSemaphore? = state.withLock { s in
                guard s.running > 1, s.pending.count < options.maximumUtterances, options.maximumWait > 0 else { return nil }
                let semaphore = DispatchSemaphore(value: 0)
                s.filling.append(semaphore)
                return semaphore
            }
            if let fill {
                _ = fill.wait(timeout: .now() + options.maximumWait)
                state.withLock { s in s.filling.removeAll { $0 === fill } }
            }
            let batch: [Ticket] = state.withLock { s in
                let taken = Self.nextPass(&s, options)
                if !taken.isEmpty { s.passes += 1; s.utterances += taken.count }
                // The rest, if any, goes to another slot now rather than after this pass.
                if s.running < options.concurrentPasses, let heir = Self.heir(s) {
                    s.running += 1
                    s.heirs.insert(heir.id)
                    heir.wake.signal()
                }
                return taken
            }
            if !batch.isEmpty { run(batch) }
            let goOn = state.withLock { s -> Bool in
                if s.pending.contains(where: { $0 === me }) { return true }
                s.leaders.remove(me.id)
                if let heir = Self.heir(s) {
                    s.heirs.insert(heir.id)
                    heir.wake.signal()
                } else {
                    s.running -= 1
                }
                return false
            }
            if !goOn { return }
        }
    }

    /// One network pass for `batch`; every ticket gets its result and is woken.
    private func run(_ batch: [Ticket]) {
        let results: [Result<[Float], ModelError>]
        do {
            results = try network.embed(batch: batch.map(\.features)).map { .success($0) }
        } catch {
            // One bad input must not fail the others: each alone, so each gets its own answer.
            results = batch.map { ticket in Result { () throws(ModelError) in try network.embed(ticket.features) } }
        }
        for (ticket, result) in zip(batch, results) {
            ticket.result.withLock { $0 = result }
            ticket.wake.signal()
        }
    }

    /// The utterances of the next pass, taken from `pending` round-robin across requesters
    /// (each one's oldest first, starting after the one served first last time) while the
    /// pass stays within both bounds; the first always goes. A requester who floods the
    /// daemon fills passes only while nobody else is waiting: anyone else's utterance rides
    /// in the next pass, never behind the flood's backlog.
    private static func nextPass(_ s: inout State, _ options: BatchingOptions) -> [Ticket] {
        var order = [UInt32]()
        var queues = [UInt32: [Int]]()
        for (i, ticket) in s.pending.enumerated() {
            if queues[ticket.requester] == nil { order.append(ticket.requester) }
            queues[ticket.requester, default: []].append(i)
        }
        if let last = s.lastRequester, let at = order.firstIndex(of: last) {
            order = Array(order[(at + 1)...] + order[...at])
        }
        // An even share of what waits per pass slot: one pass of seven beside a pass of one
        // would leave a core idle while the large one runs.
        let share = max(1, (s.pending.count + options.concurrentPasses - 1) / options.concurrentPasses)
        let limit = min(options.maximumUtterances, share)
        var chosen = [Int](), frames = 0
        selection: while true {
            var progressed = false
            for requester in order {
                guard let i = queues[requester]?.first else { continue }
                let ticket = s.pending[i]
                guard chosen.count < limit,
                      chosen.isEmpty || frames + ticket.frames <= options.maximumFrames else { break selection }
                chosen.append(i)
                frames += ticket.frames
                queues[requester]!.removeFirst()
                progressed = true
            }
            if !progressed { break }
        }
        if let first = chosen.first { s.lastRequester = s.pending[first].requester }
        let taken = chosen.map { s.pending[$0] }
        let set = Set(chosen)
        s.pending = s.pending.enumerated().filter { !set.contains($0.offset) }.map(\.element)
        return taken
    }

    /// The oldest waiting request that is neither leading nor already handed the lead.
    private static func heir(_ s: State) -> Ticket? {
        s.pending.first { !s.leaders.contains($0.id) && !s.heirs.contains($0.id) }
    }

    private static func wakeFilling(_ s: inout State) {
        for semaphore in s.filling { semaphore.signal() }
        s.filling.removeAll()
    }
}
