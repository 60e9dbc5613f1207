"""Load on `charlstm serve`: requests per second and latency percentiles of /v1/completions.

    python3 scripts/serve_load.py http://127.0.0.1:8080 [--clients 8] [--requests 200] [--tokens 100]

Each client sends its requests one after another (a new seed each), all clients at once, and
the script prints the requests per second over the whole run and the p50 / p90 / p99 latency
of one request. Standard library only.
"""

import argparse
import http.client
import json
import statistics
import threading
import time
import urllib.parse


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=200, help="in all, over every client")
    parser.add_argument("--tokens", type=int, default=100)
    parser.add_argument("--prompt", default="The ")
    args = parser.parse_args()
    address = urllib.parse.urlparse(args.url)

    latencies = []
    failures = []
    lock = threading.Lock()
    per_client = args.requests // args.clients

    def client(index):
        connection = http.client.HTTPConnection(address.hostname, address.port, timeout=120)
        for k in range(per_client):
            body = json.dumps({"prompt": args.prompt, "max_tokens": args.tokens, "seed": index * 100_000 + k})
            start = time.perf_counter()
            connection.request("POST", "/v1/completions", body, {"Content-Type": "application/json"})
            response = connection.getresponse()
            answer = json.loads(response.read())
            elapsed = time.perf_counter() - start
            with lock:
                if response.status == 200 and len(answer["choices"][0]["text"]) == args.tokens:
                    latencies.append(elapsed)
                else:
                    failures.append((response.status, answer))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    latencies.sort()

    def percentile(p):
        return latencies[min(len(latencies) - 1, int(round(p / 100 * (len(latencies) - 1))))]

    print(json.dumps({
        "clients": args.clients,
        "requests": len(latencies),
        "failures": len(failures),
        "tokens_per_request": args.tokens,
        "requests_per_s": round(len(latencies) / wall, 2),
        "chars_per_s": round(len(latencies) * args.tokens / wall, 1),
        "latency_ms": {
            "p50": round(1000 * percentile(50), 1),
            "p90": round(1000 * percentile(90), 1),
            "p99": round(1000 * percentile(99), 1),
            "mean": round(1000 * statistics.mean(latencies), 1),
        },
    }))


if __name__ == "__main__":
    main()
