import Foundation
import PostgresNIO
import VoiceprintStore

/// Centroids, as in `SQLiteEnrollmentStore+Centroids`: exact ones replayed from a
/// speaker's utterances in enrollment order, int8 codes stored beside them and
/// rewritten in each enrollment's transaction.
extension PostgresEnrollmentStore {
    /// Rows per page when every speaker's codes are read: bounded memory at any fleet size.
    static let codesPage = 10_000

    public func centroid(of name: String, model: String) throws(StoreError) -> Centroid? {
        try withConnection { tx throws(StoreError) in
            try Self.fold(tx.run("""
                SELECT u.embedding FROM speaker s JOIN utterance u ON u.speaker_id = s.id
                WHERE s.name = \(name) AND u.model = \(model) ORDER BY u.id
                """))
        }
    }

    public func centroids(speakerIDs: [Int64], model: String) throws(StoreError) -> [SpeakerCentroid] {
        guard !speakerIDs.isEmpty else { return [] }
        return try withConnection { tx throws(StoreError) in
            // One round trip for an identify's few dozen candidates.
            let rows = try tx.run("""
                SELECT u.speaker_id, s.name, u.embedding FROM utterance u JOIN speaker s ON s.id = u.speaker_id
                WHERE u.speaker_id = ANY(\(speakerIDs)) AND u.model = \(model) ORDER BY u.speaker_id, u.id
                """)
            var out = [Int64: SpeakerCentroid]()
            for row in rows {
                let (id, name, blob) = try Self.decode(row, as: (Int64, String, Data).self)
                let previous = out[id]?.centroid
                out[id] = SpeakerCentroid(speakerID: id, name: name, centroid: try Self.fold(blob, into: previous))
            }
            return speakerIDs.compactMap { out[$0] }
        }
    }

    public func centroidCodes(speakerID: Int64, model: String) throws(StoreError) -> CentroidCodes? {
        try withConnection { tx throws(StoreError) in
            try tx.run("SELECT scale, residual, codes FROM centroid_code WHERE speaker_id = \(speakerID) AND model = \(model)")
                .first.map { row throws(StoreError) in
                    let (scale, residual, codes) = try Self.decode(row, as: (Double, Double, Data).self)
                    return CentroidCodes(codes: codes.map { Int8(bitPattern: $0) }, scale: Float(scale), residual: Float(residual))
                }
        }
    }

    /// Pages through the codes in key order, so no page holds more than `codesPage` rows.
    public func forEachCentroidCodes(model: String,
                                     _ body: (_ speakerID: Int64, _ codes: UnsafeBufferPointer<Int8>, _ scale: Float, _ residual: Float) -> Void) throws(StoreError) {
        var after: Int64 = .min
        while true {
            let rows = try withConnection { tx throws(StoreError) in
                try tx.run("""
                    SELECT speaker_id, scale, residual, codes FROM centroid_code
                    WHERE model = \(model) AND speaker_id > \(after) ORDER BY speaker_id LIMIT \(Self.codesPage)
                    """)
            }
            for row in rows {
                let (id, scale, residual, codes) = try Self.decode(row, as: (Int64, Double, Double, ByteBuffer).self)
                codes.withUnsafeReadableBytes { raw in body(id, raw.bindMemory(to: Int8.self), Float(scale), Float(residual)) }
                after = id
            }
            if rows.count < Self.codesPage { return }
        }
    }

    static func replayCentroid(_ tx: PostgresTransaction, speakerID: Int64, model: String) throws(StoreError) -> Centroid? {
        try fold(tx.run("SELECT embedding FROM utterance WHERE speaker_id = \(speakerID) AND model = \(model) ORDER BY id"))
    }

    /// Folds rows whose first column is an embedding, in order (nil if none).
    static func fold(_ rows: PostgresQueryResult) throws(StoreError) -> Centroid? {
        var centroid: Centroid?
        for row in rows { centroid = try fold(decode(row, as: Data.self), into: centroid) }
        return centroid
    }

    static func fold(_ blob: Data, into centroid: Centroid?) throws(StoreError) -> Centroid {
        let embedding = EmbeddingBlob.decode(blob)
        if let dimension = centroid?.dimension, dimension != embedding.count {
            throw .dimensionMismatch(got: embedding.count, expected: dimension)
        }
        return (centroid ?? Centroid(dimension: embedding.count)).adding(embedding)
    }

    static func writeCodes(_ tx: PostgresTransaction, speakerID: Int64, model: String, of centroid: Centroid) throws(StoreError) {
        let codes = CentroidCodes(quantizing: centroid.unit)
        let bytes = ByteBuffer(bytes: codes.codes.lazy.map { UInt8(bitPattern: $0) })
        try tx.run("""
            INSERT INTO centroid_code(speaker_id, model, scale, residual, codes)
            VALUES (\(speakerID), \(model), \(Double(codes.scale)), \(Double(codes.residual)), \(bytes))
            ON CONFLICT (model, speaker_id) DO UPDATE SET scale = excluded.scale, residual = excluded.residual, codes = excluded.codes
            """)
    }
}
