// NAME
//   LeftFiles: files the gateway left in an outbox for its own reasons, and when to try
//   each again.
//
// DESCRIPTION
//   A file the gateway cannot take now (a full disk or quota, a queue that cannot commit,
//   a reports/ or rejected/ folder that cannot be written) stays in the outbox. Read,
//   validated and signed again at every rescan, ten thousand such files would keep a core
//   busy through the very incident the operator is mending. Each is left alone for as long
//   as it is the same file (its identity: a file replaced or written again is read at once)
//   for a wait that doubles with each failure, from the rescan interval up to a minute.
//   A unit whose file has just been accepted has its files tried at the next rescan (the
//   space is back); so has every unit when pickup resumes or the configuration is reloaded.
//
//   Times are nanoseconds on the monotonic clock; the caller passes them (tests too).

struct LeftFiles {
    struct Entry: Equatable {
        var identity: FileIdentity
        var due: UInt64
        var wait: UInt64
    }

    let firstWait: UInt64
    let maxWait: UInt64
    /// unit → file name → entry.
    private(set) var entries: [String: [String: Entry]] = [:]

    init(firstWait: UInt64, maxWait: UInt64 = 60_000_000_000) {
        self.firstWait = max(1, min(firstWait, maxWait))
        self.maxWait = maxWait
    }

    var isEmpty: Bool { entries.isEmpty }
    var count: Int { entries.values.reduce(0) { $0 + $1.count } }

    /// Records that `name` (as `identity`) was left at `now`; returns how long it is left
    /// alone. The same file left again waits twice as long as the last time.
    @discardableResult
    mutating func left(unit: String, name: String, identity: FileIdentity, now: UInt64) -> UInt64 {
        var wait = firstWait
        if let previous = entries[unit]?[name], previous.identity == identity {
            wait = min(maxWait, previous.wait > maxWait / 2 ? maxWait : previous.wait * 2)
        }
        let (due, overflow) = now.addingReportingOverflow(wait)
        entries[unit, default: [:]][name] = Entry(identity: identity, due: overflow ? .max : due, wait: wait)
        return wait
    }

    /// Whether a file announced at `now` is to be left alone: the same file, not yet due.
    /// A file replaced since is forgotten (and read).
    mutating func isWaiting(unit: String, name: String, identity: FileIdentity?, now: UInt64) -> Bool {
        guard let entry = entries[unit]?[name] else { return false }
        guard let identity, identity == entry.identity else {
            forget(unit: unit, name: name)
            return false
        }
        return now < entry.due
    }

    /// Whether `name` has an entry (a stat is only worth making then).
    func has(unit: String, name: String) -> Bool { entries[unit]?[name] != nil }

    /// Whether any of the unit's files has an entry.
    func has(unit: String) -> Bool { entries[unit] != nil }

    /// Keeps the unit's entries for these names only (the others' files are gone).
    mutating func keep(unit: String, only names: Set<String>) {
        guard let mine = entries[unit] else { return }
        let kept = mine.filter { names.contains($0.key) }
        entries[unit] = kept.isEmpty ? nil : kept
    }

    mutating func forget(unit: String, name: String) {
        entries[unit]?[name] = nil
        if entries[unit]?.isEmpty == true { entries[unit] = nil }
    }

    /// The unit's files are tried at their next announcement.
    mutating func clear(unit: String) { entries[unit] = nil }

    mutating func clearAll() { entries = [:] }
}
