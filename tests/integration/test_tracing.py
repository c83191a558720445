"""One trace from submit through RabbitMQ to scan and the Etherscan call, exported over real OTLP/HTTP; the work
batches share (claims, writes) in spans of their own, linked to each contract's trace."""

from __future__ import annotations

import json

from ethsource_local.fake_etherscan import address_with_shape
from tests.conftest import wait_until


def spans_of_trace(receiver, trace_id: str, wanted: set[tuple[str, str]], timeout: float = 15.0):
    """The trace's spans once it holds, for each (service, name ending) wanted, a span of that service whose name
    ends so. Waited for each: a parent span ends after its children, and may be exported in a later batch."""
    def complete():
        spans = [s for s in receiver.spans if s.trace_id == trace_id]
        found = all(any(s.service == service and s.name.endswith(ending) for s in spans) for service, ending in wanted)
        return spans if found else None

    return wait_until(complete, timeout, f"spans {sorted(wanted)} in trace {trace_id} arrived")


def test_one_trace_runs_from_submit_through_the_queue_to_scan_and_etherscan(system, otlp_receiver):
    address = address_with_shape("solidity_single", 7)
    assert system.http.post("/contracts", json={"address": address}).status_code == 202
    assert system.wait_terminal(address)["status"] == "SUCCESS"

    wait_until(lambda: any(s.attributes.get("ethsource.address") == address for s in otlp_receiver.spans), 15,
               "a span of the scan arrived")
    trace_ids = {s.trace_id for s in otlp_receiver.spans if s.attributes.get("ethsource.address") == address}
    assert len(trace_ids) == 1, "the scan's spans carry the submit's trace id"
    [trace_id] = trace_ids
    spans = spans_of_trace(otlp_receiver, trace_id, {
        ("ethsource-submit", "POST /contracts"), ("ethsource-submit", " publish"),
        ("ethsource-scan", " process"), ("ethsource-scan", "etherscan getsourcecode")})

    request = next(s for s in spans if s.name == "POST /contracts")
    publish = next(s for s in spans if s.name.endswith(" publish"))
    process = next(s for s in spans if s.name.endswith(" process"))
    assert publish.parent_span_id == request.span_id
    assert process.parent_span_id == publish.span_id  # the context crossed RabbitMQ in the message
    # The claim and the write of the contract's scan were shared with others: spans of their own with their
    # SQL under them, linked to this contract's scan.
    wait_until(lambda: {"scan claim", "scan write"} <= {s.name for s in otlp_receiver.spans
                                                         if process.parent_span_id in s.linked_span_ids}, 15,
               "the claim and the write linked to the scan arrived")
    write = next(s for s in otlp_receiver.spans if s.name == "scan write" and publish.span_id in s.linked_span_ids)
    assert any(s.parent_span_id == write.span_id and s.attributes.get("db.system") == "mysql"
               for s in otlp_receiver.spans if s.trace_id == write.trace_id)


def test_logs_carry_the_trace_and_span_ids(system, otlp_receiver):
    address = address_with_shape("vyper_single", 7)
    system.http.post("/contracts", json={"address": address})
    system.wait_terminal(address)
    scan_logs = wait_until(lambda: [json.loads(line) for line in system.log_path.read_text().splitlines()
                                    if line.startswith("{") and address in line], 10, "the scan's logs are written")
    [log] = [entry for entry in scan_logs if entry["message"] == "scan succeeded"]
    assert log["service"] == "scan" and log["level"] == "INFO"
    assert log["chain_id"] == 1 and log["address"] == address
    assert len(log["trace_id"]) == 32 and len(log["span_id"]) == 16
    trace_spans = spans_of_trace(otlp_receiver, log["trace_id"], {("ethsource-submit", ""), ("ethsource-scan", "")})
    assert {"ethsource-submit", "ethsource-scan"} <= {s.service for s in trace_spans}
