import Foundation
import GRDB

/// Speakers' centroids. The exact centroid is never stored: it is replayed from
/// the speaker's utterances (a handful of rows) whenever it is scored, so it can
/// never disagree with them and costs no space. What is stored is its int8 form
/// (`CentroidCodes`), rewritten with every enrollment in the same transaction,
/// which the daemon reads in one streaming pass at startup.
extension SQLiteEnrollmentStore {
    /// The exact centroid of the speaker named `name` for `model`, or nil if
    /// they have no utterances from that model.
    public func centroid(of name: String, model: String) throws(StoreError) -> Centroid? {
        try readStatements { db in
            let rows = try Row.fetchCursor(db.cachedStatement(sql: """
                SELECT u.embedding FROM speaker s JOIN utterance u ON u.speaker_id = s.id
                WHERE s.name = ? AND u.model = ? ORDER BY u.id
                """), arguments: [name, model])
            var centroid: Centroid?
            while let row = try rows.next() { centroid = try Self.fold(row[0], into: centroid) }
            return centroid
        }
    }

    /// The exact centroids of the given speakers for `model`, with their names.
    /// Speakers deleted meanwhile, or without utterances from `model`, are left out.
    public func centroids(speakerIDs: [Int64], model: String) throws(StoreError) -> [SpeakerCentroid] {
        guard !speakerIDs.isEmpty else { return [] }
        return try readStatements { db in
            // A cached statement run once per id: the candidates of an identify are a
            // few dozen, and an index descent each beats preparing a new IN (…) list.
            let statement = try db.cachedStatement(sql: """
                SELECT s.name, u.embedding FROM utterance u JOIN speaker s ON s.id = u.speaker_id
                WHERE u.speaker_id = ? AND u.model = ? ORDER BY u.id
                """)
            return try speakerIDs.compactMap { id in
                let rows = try Row.fetchCursor(statement, arguments: [id, model])
                var name: String?, centroid: Centroid?
                while let row = try rows.next() {
                    if name == nil { name = row[0] }
                    centroid = try Self.fold(row[1], into: centroid)
                }
                guard let name, let centroid else { return nil }
                return SpeakerCentroid(speakerID: id, name: name, centroid: centroid)
            }
        }
    }

    public func centroidCodes(speakerID: Int64, model: String) throws(StoreError) -> CentroidCodes? {
        try readStatements { db in
            guard let row = try Row.fetchOne(db.cachedStatement(sql: """
                SELECT scale, residual, codes FROM centroid_code WHERE speaker_id = ? AND model = ?
                """), arguments: [speakerID, model]) else { return nil }
            let data: Data = row[2]
            return CentroidCodes(codes: data.map { Int8(bitPattern: $0) }, scale: Float(row[0] as Double), residual: Float(row[1] as Double))
        }
    }

    /// Calls `body` with every speaker's id and int8 centroid codes for `model`,
    /// straight from a cursor: nothing is collected, so building an index over
    /// 100 000 speakers needs no transient copy of them. `codes` is valid only during the call.
    public func forEachCentroidCodes(model: String,
                                     _ body: (_ speakerID: Int64, _ codes: UnsafeBufferPointer<Int8>, _ scale: Float, _ residual: Float) -> Void) throws(StoreError) {
        try read { db in
            let rows = try Row.fetchCursor(db, sql: "SELECT speaker_id, scale, residual, codes FROM centroid_code WHERE model = ?",
                                           arguments: [model])
            while let row = try rows.next() {
                let id: Int64 = row[0], scale = Float(row[1] as Double), residual = Float(row[2] as Double)
                try row.withUnsafeData(atIndex: 3) { data in
                    (data ?? Data()).withUnsafeBytes { raw in body(id, raw.bindMemory(to: Int8.self), scale, residual) }
                }
            }
        }
    }

    /// Folds a speaker's utterances from `model` into a centroid, in the order they
    /// were enrolled (the order the v1 daemon folded them into its index, so the
    /// result is bit for bit the centroid that daemon scored against). Nil if none.
    static func replayCentroid(_ db: Database, speakerID: Int64, model: String) throws -> Centroid? {
        let rows = try Row.fetchCursor(db.cachedStatement(sql: """
            SELECT embedding FROM utterance WHERE speaker_id = ? AND model = ? ORDER BY id
            """), arguments: [speakerID, model])
        var centroid: Centroid?
        while let row = try rows.next() { centroid = try fold(row[0], into: centroid) }
        return centroid
    }

    /// One enrollment order step: `centroid` (nil before the first) plus the embedding in `blob`.
    static func fold(_ blob: Data, into centroid: Centroid?) throws -> Centroid {
        let embedding = EmbeddingBlob.decode(blob)
        if let dimension = centroid?.dimension, dimension != embedding.count {
            throw StoreError.dimensionMismatch(got: embedding.count, expected: dimension)
        }
        return (centroid ?? Centroid(dimension: embedding.count)).adding(embedding)
    }

    /// Rewrites the stored int8 form of a speaker's centroid for `model`, inside
    /// the caller's write transaction.
    static func writeCodes(_ db: Database, speakerID: Int64, model: String, of centroid: Centroid) throws {
        let codes = CentroidCodes(quantizing: centroid.unit)
        try db.cachedStatement(sql: """
            INSERT INTO centroid_code(speaker_id, model, scale, residual, codes) VALUES (?, ?, ?, ?, ?)
            ON CONFLICT(speaker_id, model) DO UPDATE SET scale = excluded.scale, residual = excluded.residual, codes = excluded.codes
            """).execute(arguments: [speakerID, model, Double(codes.scale), Double(codes.residual),
                                     codes.codes.withUnsafeBufferPointer { Data(buffer: $0) }])
    }
}
