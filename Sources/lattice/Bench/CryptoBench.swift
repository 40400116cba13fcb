import LatticeCrypto

/// Secure-channel figures for `lattice bench`: seal/open throughput of the TCP stream cipher and the
/// UDP datagram cipher next to raw libsodium ChaCha20-Poly1305 on the same buffers (64 B, 1 KiB,
/// 64 KiB), the ratio to raw, and complete handshakes per second.
///
/// Rows: workload `crypto_seal_<size>` / `crypto_open_<size>` with metrics `raw_mb_per_s`,
/// `raw_msgs_per_s`, `stream_mb_per_s`, `stream_msgs_per_s`, `stream_vs_raw_pct`, `datagram_mb_per_s`,
/// `datagram_msgs_per_s`, `datagram_vs_raw_pct`; workload `crypto_handshake`, metric `handshakes_per_s`.
/// - Parameter quick: fewer messages and rounds (for CI smoke runs).
/// - Returns: the rows; a failed measurement is reported as a row with metric `error`.
func cryptoBenchRows(quick: Bool) -> [BenchRow] {
    var rows: [BenchRow] = []
    let budget = quick ? 4 << 20 : 64 << 20  // payload bytes per round
    for size in [64, 1024, 65_536] {
        // Enough payload for a stable figure, capped so the pre-sealed messages of an open round fit in
        // 48 MiB (8 MiB quick).
        let messages = min(max(budget / size, 500), (quick ? 8 : 48) << 20 / (size + 128))
        for isOpen in [false, true] {
            let workload = "crypto_\(isOpen ? "open" : "seal")_\(size)"
            do {
                let figures = try CryptoBenchmark.measureInterleaved(
                    [.raw, .stream, .datagram],
                    open: isOpen,
                    size: size,
                    messages: messages,
                    rounds: quick ? 1 : 5
                )
                let raw = figures[0]
                for t in figures {
                    let name = t.subject.rawValue
                    rows.append(
                        BenchRow(workload: workload, metric: "\(name)_mb_per_s", value: t.megabytesPerSecond, unit: "MB/s")
                    )
                    rows.append(
                        BenchRow(workload: workload, metric: "\(name)_msgs_per_s", value: t.messagesPerSecond, unit: "msgs/s")
                    )
                    if t.subject != .raw {
                        rows.append(
                            BenchRow(
                                workload: workload,
                                metric: "\(name)_vs_raw_pct",
                                value: 100 * t.megabytesPerSecond / max(raw.megabytesPerSecond, 1e-9),
                                unit: "%"
                            )
                        )
                    }
                }
            } catch {
                rows.append(BenchRow(workload: workload, metric: "error", value: 0, unit: "\(error)"))
            }
        }
    }
    do {
        let rate = try CryptoBenchmark.handshakesPerSecond(count: quick ? 50 : 500)
        rows.append(
            BenchRow(workload: "crypto_handshake", metric: "handshakes_per_s", value: rate, unit: "handshakes/s")
        )
    } catch {
        rows.append(BenchRow(workload: "crypto_handshake", metric: "error", value: 0, unit: "\(error)"))
    }
    return rows
}
