// Command kmsbench is the HTTP load generator of `make bench`. It drives a
// kmsnode endpoint and, in the same run, a trivial Go HTTP handler (the
// baseline, bench/baseline: the limit of the HTTP stack on this machine)
// with the same SigV4-signed AWS KMS requests, and reports each kmsnode
// figure next to the baseline's.
//
//	kmsbench --endpoint http://127.0.0.1:8080 --baseline-endpoint http://127.0.0.1:8081 \
//	    --access-key-id AKIA... --secret-access-key-file secret.txt \
//	    --ops Encrypt32,Decrypt --concurrency 1,32 --json out.json --csv out.csv
//
// --endpoint may list the endpoints of one region's nodes, comma-separated
// (--endpoint http://127.0.0.1:18081,http://127.0.0.1:18082,...): worker i
// of a run sends to endpoint i mod n, so the load spreads round-robin over
// the nodes and the figures are the region's. Setup goes through the first
// endpoint, then every endpoint must decrypt the fixture before the runs.
//
// The secret comes from --secret-access-key-file or AWS_SECRET_ACCESS_KEY,
// never from a flag value (it would show in ps and shell history).
//
// How it measures:
//
//   - Closed loop: C workers each send one request, wait for the whole
//     answer, and send the next. All workers share one keep-alive
//     http.Transport (MaxIdleConnsPerHost ≥ C, no proxy, no compression).
//   - Every request is a raw `POST /` with `X-Amz-Target: TrentService.<Op>`,
//     signed with SigV4 (aws-sdk-go-v2 signer, service kms) at the moment it
//     is sent; the body of each operation is built once and its SHA-256 is
//     precomputed. No SDK client runs in the hot loop: its middleware stack
//     would cost more client CPU than the server under test on a small machine.
//   - A run is a warm-up (not recorded) followed by the measured window. A
//     request counts when it completes inside the window; its latency is the
//     HTTP round trip, from handing the signed request to the transport to
//     having read the whole answer. Every latency is kept, so p50, p99 and
//     p99.9 are exact (nearest rank over the sorted merge of all workers).
//   - Failed requests are not in ops/s or the latencies; they are counted by
//     type (HTTP status and the AWS __type, or the transport failure) and
//     shown with one sample message each.
//   - Each (operation, concurrency) cell runs every target --repeat times.
//     The order flips every repetition (baseline, kmsnode, kmsnode, baseline,
//     baseline, kmsnode, …) so a drift of the machine hits both alike. The
//     table shows medians over the repetitions; a ratio is the median of the
//     per-repetition ratios, each kmsnode run against the baseline run of
//     the same repetition, measured next to it.
//   - Setup creates one key through the API and one ciphertext of a 32-byte
//     plaintext under it (for Decrypt and ReEncrypt), through the first
//     endpoint; with several endpoints each of them must then decrypt it. The baseline gets the
//     very same requests; it does not check signatures and answers
//     {"ok":true}.
//
// Operations: Encrypt32 and Encrypt4K (Encrypt of 32 B and 4 KiB), Decrypt,
// GenerateDataKey (AES_256), ReEncrypt (to the same key) and CreateKey
// (a Raft write per call).
//
// Output: a table on stdout, progress on stderr, with --json / --csv every
// run and every median, and with --png a chart of the medians. The exit
// status is 1 when any request failed (after the table and files are
// written), 2 for a usage error, 130 when SIGINT or SIGTERM stopped the runs.
//
// The chart subcommand draws the same chart again from reports written by
// --json, several of them in one image (one section per file, headed by its
// name), for instance the three runs of bench/cluster.sh:
//
//	kmsbench chart [--title T] --png OUT.png RESULTS.json [RESULTS2.json ...]
//
// A first argument "chart" selects it; anything else is the load generator.
// The chart has one row per operation, concurrency and kmsnode target: the
// baseline's and kmsnode's median ops/s as bars with their ratio as a
// number, then kmsnode's p50, p99 and p99.9 next to the baseline's p99 on a
// log scale (latencies of one chart span several decades) with the p99
// ratio. Its title gives the machine, the date, and the runs per cell and
// their length. It exits 1 when a file cannot be read or is not a kmsbench
// report with results, 2 for a usage error. The image is drawn with the
// standard library and the bitmap fonts of golang.org/x/image: no cgo, no
// plotting library.
package main
