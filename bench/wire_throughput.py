"""``make bench``'s vanphong run twice: single-object input, then Confluent-framed input (issue 12).

``python -m bench.wire_throughput [EVENTS]`` (default 50,000) generates the bench's history once
(bench/generate.py), publishes it under two fresh prefixes, once as ``vanphong publish`` writes
it (``C3 01`` + fingerprint) and once re-framed as Confluent's serializers write it (``00`` + the
schema id that ``vanphong init`` registered under ``<topic>-value``, the same Avro body), then
times one ``vanphong worker`` from an empty database on each (bench/measure.py's
``run_vanphong``, with ``VANPHONG_SCHEMA_REGISTRY_URL`` set for both) and checks both against the
reference model. It needs the stack's Schema Registry (or ``VANPHONG_SCHEMA_REGISTRY_URL``).
"""

from __future__ import annotations

import asyncio
import os
import sys
from contextlib import suppress

from bench import infra
from bench.config import RESULTS_DIR, BenchConfig
from bench.expected import expected
from bench.generate import encode_all, history
from bench.measure import Bench, Throughput, run_vanphong
from vanphong.deploy.local.apicurio import RegistryConfig
from vanphong.deploy.local.config import StackConfig
from vanphong.ground.schema_registry import SchemaRegistryClient
from vanphong.publish import Outgoing
from vanphong.registry_sync import register_all
from vanphong.schemas.codec import HEADER_LENGTH, confluent_frame


def registry_url() -> str:
    base = infra.base_settings()
    if base.schema_registry_url:
        return base.schema_registry_url
    return RegistryConfig.from_settings(base, StackConfig.from_settings(base).paths).url


async def confluent_framed(messages: list[Outgoing], prefix: str, url: str) -> list[Outgoing]:
    """The same bodies behind the id of the current schema of each topic's subject."""
    settings = infra.base_settings().model_copy(
        update={"topic_prefix": prefix, "schema_registry_url": url}
    )
    async with SchemaRegistryClient(url) as client:
        ids = {r.subject: r.ids[-1] for r in await register_all(client, settings)}
    return [
        Outgoing(m.topic, m.key, confluent_frame(ids[f"{m.topic}-value"], m.value[HEADER_LENGTH:]))
        for m in messages
    ]


async def amain(events: int) -> int:
    base = infra.base_settings()
    url = registry_url()
    os.environ["VANPHONG_SCHEMA_REGISTRY_URL"] = url  # the workers inherit it
    hist = history(events)
    encoded = encode_all(hist.events)
    want = expected(hist.events, base.timezone)
    results: dict[str, Throughput] = {}
    configs: list[BenchConfig] = []
    try:
        for framing in ("single-object", "confluent"):
            cfg = BenchConfig(events=len(encoded), systems=("vanphong",))
            configs.append(cfg)
            await infra.create_prefix_topics(base, cfg.prefix)
            await asyncio.sleep(1.0)  # let the new partitions elect their leader
            messages = [e.to(cfg.prefix) for e in encoded]
            if framing == "confluent":
                messages = await confluent_framed(messages, cfg.prefix, url)
            await infra.publish(base, messages)
            ends = await infra.end_offsets(base, infra.input_topics(cfg.prefix))
            logs = RESULTS_DIR / "runs" / cfg.run_id
            bench = Bench(cfg, base, logs, ends, want)
            results[framing] = await run_vanphong(bench, "vanphong")
    finally:
        infra.stop_all_children()
        for failure in await infra.drop_created(base):
            print(f"cleanup: could not drop database {failure}")
        for cfg in configs:
            with suppress(Exception):
                await infra.delete_topics(base, infra.contract_topic_names(base, cfg.prefix))
    ok = True
    print(f"{len(encoded):,} events, one worker each, load average {os.getloadavg()[0]:.1f}")
    for framing, t in results.items():
        steady = f", {t.steady_eps:,.0f} after start-up" if t.steady_eps else ""
        verdict = "correct" if t.ok else "WRONG"
        print(f"  {framing:<14} {t.eps:9,.0f} events/s{steady} ({t.seconds:.1f} s, {verdict})")
        ok = ok and t.ok
    return 0 if ok else 1


def main() -> None:
    events = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    sys.exit(asyncio.run(amain(events)))


if __name__ == "__main__":
    main()
