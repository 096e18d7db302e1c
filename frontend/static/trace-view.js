// The trace view: one trace as a waterfall, its logs, and what to notice in it.
//
// It reads one shape, the answer of Jaeger's query API `GET /api/traces/<trace id>`, from the
// page's own origin: Jaeger's (through nginx or the frontend server) or, in `make run`, the
// frontend server's, built from the local spans and logs files. The demo page shows it under
// each click; /traces/<trace id> shows it on a page of its own.
"use strict";

(() => {
  const LOOK_EVERY_MS = 150;
  // A whole trace (every span's parent here, every call to a service answered by its server
  // span) must hold this long with nothing new before it is called complete: batches exported
  // one after the other may land in the other order (the Collector sends them in parallel).
  const CONFIRM_MS = 150;
  // Calls to a service nobody traces never get a server span: such a trace is complete once
  // nothing new arrived for this long.
  const QUIET_MS = 3000;
  // After "complete", log records may still land (they leave on their own schedule): the view
  // keeps looking this long for them. Spans never change after "complete".
  const LOGS_GRACE_MS = 1000;
  const LOOK_TIMEOUT_MS = 3000;
  const GIVE_UP_MS = 15000;
  const STATEMENT_CHARS = 140;
  // A span's own time below this share of the trace: nothing stands out.
  const STANDS_OUT = 0.5;
  // A client span this much (µs) longer than the server spans under it, and at least twice as
  // long: the call waited outside the server.
  const NOTICEABLE_WAIT_US = 100000;
  const TRACE_ID = /^[0-9a-f]{32}$/;
  // What a FOLLOWS_FROM reference means, said for someone who has not met one.
  const FOLLOWS_FROM_MEANS =
    "a link, not a call: this span started because of that one, which did not wait for it " +
    "(a FOLLOWS_FROM reference; OpenTelemetry calls it a span link)";
  const PALETTE = ["#3957d6", "#d9822b", "#2f9e6e", "#9c4dcc", "#c7417b", "#2b8fb3", "#8a6d1f"];

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  /** A link to a trace UI, opened beside the page. */
  function traceLink(url, text) {
    const anchor = element("a", "trace-link", text);
    anchor.href = url;
    anchor.target = "_blank";
    anchor.rel = "noopener";
    return anchor;
  }

  /** A service's colour: the same in every trace, since it comes from its name. */
  function colourOf(service) {
    let hash = 0;
    for (const char of service) hash = (hash * 31 + char.codePointAt(0)) >>> 0;
    return PALETTE[hash % PALETTE.length];
  }

  /** A time in µs as a person reads it: "52 µs" below a millisecond, "3.4 ms", "120 ms". */
  function durationText(micros) {
    if (Math.abs(micros) < 1000) return `${Math.round(micros)} µs`;
    const value = micros / 1000;
    return `${Math.abs(value) < 10 ? value.toFixed(1) : Math.round(value)} ms`;
  }

  /**
   * Jaeger's key/value list as a Map. A value typed bool is a boolean even where the JSON
   * holds it as a string (`{"type": "bool", "value": "true"}`, as in jaeger-ui's own fixtures).
   */
  function fieldsOf(list) {
    return new Map(
      (list || []).map((item) => [
        item.key,
        item.type === "bool" && typeof item.value === "string" ? item.value === "true" : item.value,
      ]),
    );
  }

  /** Whitespace folded, cut to `limit` characters. */
  function shorten(text, limit) {
    const folded = String(text).replace(/\s+/g, " ").trim();
    return folded.length > limit ? `${folded.slice(0, limit - 1)}…` : folded;
  }

  /** Jaeger's trace as spans in tree order, with depth, self time, failures and logs. */
  function readTrace(jaeger) {
    const processes = jaeger.processes || {};
    const spans = (jaeger.spans || []).map((raw) => {
      const tags = fieldsOf(raw.tags);
      // The parent, as jaeger-ui picks it: the first CHILD_OF reference within the trace, else
      // the first FOLLOWS_FROM one (a span started because of another that did not wait for
      // it: a message's consumer, a queued job). Every other reference is a link; Jaeger turns
      // OpenTelemetry's span links into FOLLOWS_FROM references after the parent's.
      const references = raw.references || [];
      const inTrace = references.filter((ref) => ref.traceID === raw.traceID);
      const parent =
        inTrace.find((ref) => ref.refType === "CHILD_OF") ||
        inTrace.find((ref) => ref.refType === "FOLLOWS_FROM");
      const events = (raw.logs || []).map((log) => ({
        time: log.timestamp,
        fields: fieldsOf(log.fields),
      }));
      const thrown = events.find((event) => event.fields.get("event") === "exception");
      return {
        id: raw.spanID,
        traceId: raw.traceID,
        parentId: parent ? parent.spanID : null,
        parentRefType: parent ? parent.refType : null,
        links: references
          .filter((ref) => ref !== parent)
          .map((ref) => ({ type: ref.refType, traceId: ref.traceID, spanId: ref.spanID })),
        service: (processes[raw.processID] || {}).serviceName || "?",
        name: raw.operationName,
        kind: String(tags.get("span.kind") || "internal"),
        start: Number(raw.startTime) || 0,
        duration: Number(raw.duration) || 0,
        end: (Number(raw.startTime) || 0) + (Number(raw.duration) || 0),
        tags,
        events,
        error: tags.get("error") === true || tags.get("otel.status_code") === "ERROR",
        statusMessage: tags.get("otel.status_description") || "",
        exception: thrown
          ? `${thrown.fields.get("exception.type") || "exception"}: ${
              thrown.fields.get("exception.message") || ""
            }`
          : "",
        children: [],
        depth: 0,
      };
    });
    const byId = new Map(spans.map((span) => [span.id, span]));
    const roots = [];
    for (const span of spans) {
      let parent = byId.get(span.parentId) || null;
      // References that loop back (malformed) are cut: the span becomes a root.
      for (let up = parent; up; up = up.parent) if (up === span) parent = null;
      span.parent = parent;
      // Drawn under a span it only follows from: the row says it is a link, not a call.
      span.followsFrom = Boolean(parent) && span.parentRefType === "FOLLOWS_FROM";
      if (parent) parent.children.push(span);
      else roots.push(span);
    }
    // Depth-first from the roots; the tree has no loops (cut above), so every span is reached once.
    const ordered = [];
    const visit = (span, depth) => {
      span.depth = depth;
      ordered.push(span);
      span.children.sort((a, b) => a.start - b.start).forEach((child) => visit(child, depth + 1));
    };
    roots.sort((a, b) => a.start - b.start).forEach((root) => visit(root, 0));
    for (const span of ordered) span.self = selfTime(span);
    const start = Math.min(...spans.map((span) => span.start));
    const end = Math.max(...spans.map((span) => span.end));
    // One line per log record and event; an exception recorded again on each span it passes
    // through is listed once, where it was first recorded.
    const seenExceptions = new Set();
    const logs = ordered
      .flatMap((span) => span.events.map((event) => logEntry(span, event)))
      .sort((a, b) => a.time - b.time)
      .filter((log) => {
        if (!log.exception) return true;
        const key = log.message;
        const first = !seenExceptions.has(key);
        seenExceptions.add(key);
        return first;
      });
    // A span whose parent has not arrived (yet), or an HTTP call whose server span has not:
    // the trace is not whole. (A call to a service nobody traces never gets one.)
    const missingParents = roots.filter((root) => root.parentId).length;
    // A root that is not a server span (a click) and has no child yet: the calls it made are
    // still on their way (a click's own span may arrive before its fetch spans).
    const waitingRoots = roots.filter(
      (root) => !root.parentId && root.kind !== "server" && root.children.length === 0,
    ).length;
    const unansweredCalls = ordered.filter(
      (span) => isHttpCall(span) && !span.children.some((child) => child.kind === "server"),
    ).length;
    return { spans: ordered, byId, start, end, logs, missingParents, unansweredCalls, waitingRoots };
  }

  function isHttpCall(span) {
    const method = span.tags.get("http.request.method") || span.tags.get("http.method");
    return span.kind === "client" && Boolean(method) && !span.tags.has("db.system");
  }

  /**
   * A span's own time: its duration minus the time covered by its children. A span that only
   * follows from it ran beside it, not inside it, and covers none of it.
   */
  function selfTime(span) {
    const intervals = span.children
      .filter((child) => !child.followsFrom)
      .map((child) => [Math.max(child.start, span.start), Math.min(child.end, span.end)])
      .filter(([from, to]) => to > from)
      .sort((a, b) => a[0] - b[0]);
    let covered = 0;
    let reach = span.start;
    for (const [from, to] of intervals) {
      if (to <= reach) continue;
      covered += to - Math.max(from, reach);
      reach = to;
    }
    return span.duration - covered;
  }

  /** A span log as a log line: a log record (level, message) or a span event. */
  function logEntry(span, event) {
    const name = event.fields.get("event");
    const severity =
      event.fields.get("level") || (name === "exception" ? "ERROR" : "EVENT");
    const message =
      event.fields.get("message") ||
      (name === "exception" ? span.exception : name) ||
      [...event.fields].map(([key, value]) => `${key}=${value}`).join(" ");
    const exception = name === "exception";
    return { time: event.time, service: span.service, spanId: span.id, severity, message, exception };
  }

  /** The facts a row shows without opening it: SQL, HTTP, app.* values, the failure. */
  function factsOf(span) {
    const facts = [];
    const statement = span.tags.get("db.statement") || span.tags.get("db.query.text");
    if (statement) facts.push({ kind: "sql", text: shorten(statement, STATEMENT_CHARS) });
    const target = httpTarget(span);
    if (target) {
      const status = statusOf(span);
      facts.push({ kind: "http", text: `${target}${status ? ` → ${status}` : ""}` });
    }
    // app.scenario is on every span of a scenario's trace: said once, on the root.
    const values = [...span.tags]
      .filter(([key]) => key.startsWith("app.") && (key !== "app.scenario" || !span.depth))
      .map(([key, value]) => `${key}=${value}`);
    if (values.length) facts.push({ kind: "app", text: values.join(" · ") });
    if (span.error) facts.push({ kind: "error", text: `✖ ${failureOf(span) || "failed"}` });
    return facts;
  }

  /** An HTTP span's method and route or path ("PUT /users/5"), or "" for any other span. */
  function httpTarget(span) {
    const method = span.tags.get("http.request.method") || span.tags.get("http.method");
    if (!method) return "";
    const url = span.tags.get("url.full") || span.tags.get("http.url");
    let path = span.tags.get("http.route") || span.tags.get("url.path") || "";
    if (!path && url) {
      try {
        path = new URL(url, location.href).pathname;
      } catch {
        path = url;
      }
    }
    return `${method} ${path}`;
  }

  function statusOf(span) {
    return span.tags.get("http.response.status_code") || span.tags.get("http.status_code");
  }

  /** Why a span failed: its status message, and its exception unless the message says it. */
  function failureOf(span) {
    const thrown = span.exception.split(": ").slice(1).join(": ");
    if (span.statusMessage && (!thrown || span.statusMessage.includes(thrown))) {
      return span.statusMessage;
    }
    return [span.statusMessage, span.exception].filter(Boolean).join(" · ");
  }

  /** How a person names a span in a sentence: its SQL statement or its name, and service. */
  function describe(span) {
    const statement = span.tags.get("db.statement") || span.tags.get("db.query.text");
    const call = factsOf(span).find((fact) => fact.kind === "http");
    const what = statement ? shorten(statement, 80) : call && span.kind === "client" ? call.text : span.name;
    return `${span.service}'s “${what}”`;
  }

  /**
   * The span that explains the trace, and one sentence about it, from the trace alone:
   * 1. a call sent again whose last attempt was answered from the record of an earlier one
   *    (see replayedRetries): its earlier, failed attempts are what the retry recovered from,
   *    not where a failure started;
   * 2. else where a failure started: a failed span with no failed span under it;
   * 3. else a call that waited outside its server: a client span whose server spans account
   *    for less than half of it, by at least NOTICEABLE_WAIT_US (durations only, so clocks
   *    that differ between machines do not matter);
   * 4. else the span with the longest self time, when it is at least STANDS_OUT of the trace.
   * Nothing is marked when nothing stands out.
   */
  function whatToNotice(trace) {
    if (!trace.spans.length) return { span: null, reason: "none", sentence: "" };
    const total = Math.max(trace.end - trace.start, 1);
    const origins = trace.spans
      .filter((span) => span.error && !span.children.some(failsWithin))
      .sort((a, b) => a.end - b.end);
    const retries = replayedRetries(trace);
    if (retries.length) {
      const [attempts, ...others] = retries;
      const last = attempts[attempts.length - 1];
      const earlier = attempts.slice(0, -1);
      const recovered = (span) => earlier.some((a) => a === span || ancestorsOf(span).includes(a));
      const elsewhere = origins.filter((origin) => !recovered(origin));
      const server = serversUnder(last)[0];
      const failedBefore = earlier.filter(failsWithin).length;
      return {
        span: last,
        reason: "replayed-retry",
        sentence:
          `${describe(last)} was sent ${attempts.length} times with one idempotency key: ` +
          earlier.map((attempt, i) => `attempt ${i + 1} ${outcomeOf(attempt)}; `).join("") +
          `attempt ${attempts.length} (http.request.resend_count=${resendCount(last)}) was ` +
          `answered ${server ? `by ${server.service} ` : ""}from the record of an earlier one ` +
          `(app.idempotency.replayed=true). So it was applied once` +
          (failedBefore
            ? `, and the red ${failedBefore > 1 ? "attempts are" : "attempt is"} what the ` +
              `retry recovered from, not where the request failed.`
            : ".") +
          (others.length ? ` ${count(others.length, "other call")} retried the same way.` : "") +
          (elsewhere.length ? ` ${count(elsewhere.length, "failure")} started elsewhere.` : ""),
      };
    }
    if (origins.length) {
      const [origin, ...elsewhere] = origins;
      const why = failureOf(origin).replace(/\.+$/, "");
      const passing = ancestorsOf(origin).filter((span) => span.error).length;
      return {
        span: origin,
        reason: "error",
        sentence:
          `The failure started in ${describe(origin)}${why ? `: ${why}` : ""}.` +
          (passing === 1 ? " The red span above it only passes it on." : "") +
          (passing > 1 ? ` The ${passing} red spans above it only pass it on.` : "") +
          (elsewhere.length ? ` ${count(elsewhere.length, "other failure")} started elsewhere.` : ""),
      };
    }
    const waits = trace.spans
      .filter((span) => span.kind === "client" && serversUnder(span).length)
      .map((call) => ({ call, outside: call.duration - sum(serversUnder(call)) }))
      .filter(({ call, outside }) => outside >= NOTICEABLE_WAIT_US && outside >= call.duration / 2)
      .sort((a, b) => b.outside - a.outside);
    if (waits.length) {
      const [{ call, outside }, ...others] = waits;
      const served = sum(serversUnder(call));
      const server = serversUnder(call)[0].service;
      return {
        span: call,
        reason: "client-wait",
        sentence:
          `${describe(call)} took ${durationText(call.duration)}, but ${server} spent only ` +
          `${durationText(served)} on it: ${durationText(outside)} passed outside the server ` +
          `span (the network, a queue, or a wait before ${server}'s code ran).` +
          (others.length ? ` ${count(others.length, "other call")} waited the same way.` : ""),
      };
    }
    const slowest = trace.spans.reduce((a, b) => (b.self > a.self ? b : a), trace.spans[0]);
    if (slowest.self / total >= STANDS_OUT) {
      return {
        span: slowest,
        reason: "self-time",
        sentence:
          `Most of this trace is ${describe(slowest)} itself: ${durationText(slowest.self)} of ` +
          `${durationText(total)}, not counting the spans under it.`,
      };
    }
    return {
      span: null,
      reason: "none",
      sentence:
        `Nothing stands out: the time is spread over the spans; the most spent in one span ` +
        `itself is ${durationText(slowest.self)} of ${durationText(total)}, in ` +
        `${describe(slowest)}.`,
    };
  }

  /**
   * Calls sent more than once, whose last attempt was answered from the record of an earlier
   * one: client spans of one parent to the same method and path, the later ones carrying
   * http.request.resend_count, the last one answered with app.idempotency.replayed=true (on
   * itself, its server span or a span of that server below it). Each as its attempts in time
   * order; the outermost call first.
   */
  function replayedRetries(trace) {
    const calls = new Map();
    for (const span of trace.spans.filter(isHttpCall)) {
      const key = `${span.parentId} ${httpTarget(span)}`;
      calls.set(key, [...(calls.get(key) || []), span]);
    }
    return [...calls.values()]
      .map((attempts) => attempts.sort((a, b) => a.start - b.start))
      .filter(
        (attempts) =>
          attempts.length > 1 &&
          attempts.slice(1).every((attempt) => resendCount(attempt) > 0) &&
          answeredFromRecord(attempts[attempts.length - 1]),
      )
      .sort((a, b) => a[0].depth - b[0].depth || a[0].start - b[0].start);
  }

  function resendCount(span) {
    return Number(span.tags.get("http.request.resend_count")) || 0;
  }

  function saysReplayed(span) {
    const replayed = span.tags.get("app.idempotency.replayed");
    return replayed === true || replayed === "true";
  }

  function answeredFromRecord(call) {
    if (saysReplayed(call)) return true;
    const within = (span, service) =>
      span.children.filter((child) => child.service === service).flatMap((child) => [
        child,
        ...within(child, service),
      ]);
    return serversUnder(call).some(
      (server) => saysReplayed(server) || within(server, server.service).some(saysReplayed),
    );
  }

  /** What one attempt of a call got: an answer (its status) or none, and why it failed. */
  function outcomeOf(attempt) {
    const status = statusOf(attempt);
    // A long reason (a client library's message) is cut to its first part, its exception type.
    let why = attempt.error ? failureOf(attempt).replace(/\.+$/, "") : "";
    if (why.length > 60) why = why.split(":")[0];
    return `${status ? `was answered ${status}` : "got no answer"}${why ? ` (${why})` : ""}`;
  }

  function failsWithin(span) {
    return span.error || span.children.some(failsWithin);
  }

  function ancestorsOf(span) {
    const found = [];
    for (let up = span.parent; up && !found.includes(up); up = up.parent) found.push(up);
    return found;
  }

  function serversUnder(span) {
    return span.children.filter((child) => child.kind === "server");
  }

  function sum(spans) {
    return spans.reduce((total, span) => total + span.duration, 0);
  }

  function count(n, noun) {
    return `${n} ${noun}${n > 1 ? "s" : ""}`;
  }

  /**
   * The span a reference names, as parts of a table cell: its service and name when it is in
   * this trace; else its id, and its trace's page when it is in another trace.
   */
  function referenced(ref, span, trace) {
    if (ref.traceId !== span.traceId) {
      const other = TRACE_ID.test(ref.traceId)
        ? traceLink(`/traces/${ref.traceId}`, ref.traceId)
        : ref.traceId;
      return [`span ${ref.spanId} of trace `, other];
    }
    const target = trace.byId.get(ref.spanId);
    return [target ? `${describe(target)} (span ${ref.spanId})` : `span ${ref.spanId} (missing)`];
  }

  /** A span's references beyond its CHILD_OF parent, as rows of its details. */
  function referenceRows(span, trace) {
    const rows = span.links.map((ref) => [
      "link",
      [
        `${ref.type === "CHILD_OF" ? "child of" : "follows from"} `,
        ...referenced(ref, span, trace),
      ],
    ]);
    if (span.followsFrom) {
      const parent = { type: "FOLLOWS_FROM", traceId: span.traceId, spanId: span.parentId };
      rows.unshift([
        "follows from",
        [...referenced(parent, span, trace), `: ${FOLLOWS_FROM_MEANS}`],
      ]);
    }
    return rows;
  }

  function detailsTable(span, trace) {
    const table = element("table", "span-details");
    const rows = [
      ["service", span.service],
      ["span id", span.id],
      ...referenceRows(span, trace),
      ["start", `+${durationText(span.start - trace.start)}`],
      ["duration", durationText(span.duration)],
      ["self time", durationText(span.self)],
      ...[...span.tags].map(([key, value]) => [key, value]),
      ...span.events.map((event) => [
        `log @ ${durationText(event.time - span.start)}`,
        [...event.fields].map(([key, value]) => `${key}=${value}`).join(" "),
      ]),
    ];
    for (const [key, value] of rows) {
      const row = element("tr");
      const cell = element("td");
      cell.append(...(Array.isArray(value) ? value : [String(value)]));
      row.append(element("th", "", key), cell);
      table.append(row);
    }
    return table;
  }

  function axis(total) {
    const scale = element("div", "axis");
    for (const share of [0, 1 / 3, 2 / 3, 1]) {
      const tick = element("span", "tick", share ? durationText(total * share) : "0");
      tick.style.left = `${share * 100}%`;
      scale.append(tick);
    }
    return scale;
  }

  function spanRow(span, trace, noticed) {
    const total = Math.max(trace.end - trace.start, 1);
    const row = element("details", "span-row");
    row.dataset.spanId = span.id;
    row.dataset.service = span.service;
    if (span.error) row.classList.add("error");
    if (span.followsFrom) row.classList.add("follows-from");
    if (noticed) row.classList.add("noticed");
    const summary = element("summary");
    const label = element("div", "span-label");
    label.style.paddingLeft = `${span.depth * 1.1}rem`;
    const service = element("span", "service", span.service);
    service.style.setProperty("--service-colour", colourOf(span.service));
    const head = element("div", "span-head");
    head.append(service, element("span", "span-name", span.name));
    if (span.kind !== "internal") head.append(element("span", "span-kind", span.kind));
    if (span.followsFrom) {
      const mark = element("span", "link-mark", "⤷ follows from (a link, not a call)");
      mark.title = `Drawn under the span it follows from: ${FOLLOWS_FROM_MEANS}.`;
      head.append(mark);
    }
    if (span.links.length) {
      const mark = element("span", "link-mark", `🔗 ${count(span.links.length, "link")}`);
      mark.title = "It refers to other spans too (OpenTelemetry span links): open the row.";
      head.append(mark);
    }
    if (noticed) head.append(element("span", "notice-mark", "◀ notice this"));
    label.append(head);
    for (const fact of factsOf(span)) label.append(element("div", `fact ${fact.kind}`, fact.text));
    const timing = element("div", "span-timing");
    const duration = element("span", "span-duration", durationText(span.duration));
    const lane = element("div", "lane");
    const bar = element("div", "bar");
    const offset = ((span.start - trace.start) / total) * 100;
    bar.style.left = `${offset}%`;
    bar.style.width = `${Math.min(Math.max((span.duration / total) * 100, 0.4), 100 - offset)}%`;
    bar.style.backgroundColor = colourOf(span.service);
    lane.append(bar);
    timing.append(duration, lane);
    summary.append(label, timing);
    row.append(summary, detailsTable(span, trace));
    return row;
  }

  /** The trace's logs under a heading of level `headingLevel`. */
  function logsTable(trace, headingLevel) {
    const section = element("div", "trace-logs");
    section.append(element(`h${headingLevel}`, "trace-logs-title", "Logs of this trace"));
    if (!trace.logs.length) {
      section.append(
        element(
          "p",
          "no-logs",
          "No log records came with this trace. (Jaeger keeps spans and their events only; " +
            "there, the services' log records are in the collector's output.)",
        ),
      );
      return section;
    }
    const table = element("table", "log-lines");
    for (const log of trace.logs) {
      const row = element("tr", `log severity-${String(log.severity).toLowerCase()}`);
      const service = element("span", "service", log.service);
      service.style.setProperty("--service-colour", colourOf(log.service));
      const cell = element("td");
      cell.append(service);
      row.append(
        element("td", "log-time", `+${durationText(log.time - trace.start)}`),
        cell,
        element("td", "log-severity", log.severity),
        element("td", "log-message", log.message),
      );
      table.append(row);
    }
    section.append(table);
    return section;
  }

  /**
   * Draw `trace` (from readTrace) into `container`; `state` says whether it is complete;
   * `headingLevel`: the level of the view's headings, one below the heading it sits under.
   */
  function render(container, trace, state, { headingLevel = 3 } = {}) {
    const total = Math.max(trace.end - trace.start, 1);
    const services = [...new Set(trace.spans.map((span) => span.service))];
    const notice = whatToNotice(trace);
    const view = element("div", "trace-view");
    const summary = element("p", "trace-summary");
    summary.append(
      `${trace.spans.length} spans from ${services.join(", ")}; ` +
        `${durationText(total)} end to end. `,
      element("span", state.className, state.text),
    );
    const callout = element("p", `notice ${notice.reason}`);
    callout.append(element("strong", "", "What to notice: "), notice.sentence);
    const header = element("div", "waterfall-header");
    header.append(element("span", "", "span"), axis(total));
    const waterfall = element("div", "waterfall");
    waterfall.append(header);
    for (const span of trace.spans) waterfall.append(spanRow(span, trace, span === notice.span));
    view.append(summary, callout, waterfall, logsTable(trace, headingLevel));
    container.replaceChildren(view);
  }

  // What to check when a trace never reaches the trace source: the services' export settings.
  const CHECK_EXPORT =
    "Check where the services send their spans (each service logs it once at start, " +
    "“[telemetry] sending traces -> …”, and logs a line when an export fails): the endpoint " +
    "OTEL_EXPORTER_OTLP_ENDPOINT (a host the service can reach), its port (4317 for OTLP/gRPC, " +
    "4318 for OTLP/HTTP), the protocol OTEL_EXPORTER_OTLP_PROTOCOL (grpc or http/protobuf, " +
    "matching the port), and the token a backend may need in OTEL_EXPORTER_OTLP_HEADERS " +
    "(SigNoz Cloud's signoz-ingestion-key=<key>). With Docker Compose, the collector's log says " +
    "whether it reached the backend.";

  /** Why no spans of `traceId` were shown after GIVE_UP_MS, from the last look's `status`. */
  function neverArrived(traceId, status) {
    const waited = `after ${GIVE_UP_MS / 1000} s`;
    if (status === 200 || status === 404) {
      return (
        `No spans of trace ${traceId} arrived: the trace source still has no trace by this id ` +
        `${waited}. ${CHECK_EXPORT}`
      );
    }
    const answer = status ? `answered HTTP ${status}` : "did not answer";
    return (
      `No spans of trace ${traceId} arrived: the trace source (/api/traces/, from Jaeger at ` +
      `JAEGER_QUERY_URL or the local spans file) ${answer} ${waited}. Check that Jaeger's query ` +
      "service runs and that the frontend reaches it (port 16686)."
    );
  }

  function showMessage(container, className, text, link) {
    const line = element("p", className, text);
    if (link) line.append(" ", traceLink(link, "open it in the trace UI"));
    container.replaceChildren(line);
  }

  /** One look at `/api/traces/<id>`: {status, answer}; a look that hangs is given up. */
  async function look(traceId) {
    try {
      const response = await fetch(`/api/traces/${traceId}`, {
        cache: "no-store",
        signal: AbortSignal.timeout(LOOK_TIMEOUT_MS),
      });
      return { status: response.status, answer: await response.json() };
    } catch {
      return { status: 0, answer: null };
    }
  }

  /**
   * After a trace is complete: look for LOGS_GRACE_MS more, and hand `redraw` the trace when
   * more log records arrived (its spans are the same).
   */
  async function lateLogs(container, traceId, trace, redraw) {
    const until = performance.now() + LOGS_GRACE_MS;
    let logs = trace.logs.length;
    while (container.isConnected && performance.now() < until) {
      await new Promise((resolve) => setTimeout(resolve, LOOK_EVERY_MS * 2));
      const { status, answer } = await look(traceId);
      const data = status === 200 && answer && answer.data && answer.data[0];
      const later = data ? readTrace(data) : null;
      if (later && later.spans.length === trace.spans.length && later.logs.length > logs) {
        logs = later.logs.length;
        redraw(later);
      }
    }
  }

  /**
   * Look up `traceId` on this origin until it is whole, drawing each look.
   * Complete, judged by the trace's structure: every span's parent is here (so the root is: a
   * span is exported only once it ends, after its children) and every HTTP call to a service
   * has its server span, for CONFIRM_MS with nothing new. A call with no server span (a service
   * nobody traces) waits QUIET_MS of nothing new instead. Resolves to "complete", "incomplete", "not-found",
   * "no-source" or "replaced". `link`: the trace UI's page of the trace, offered when this
   * view cannot show it; `headingLevel`: as for render; `onComplete`: given the trace (as
   * readTrace reads it) once it is complete.
   */
  async function watch(container, traceId, { link = null, headingLevel = 3, onComplete } = {}) {
    const started = performance.now();
    let seen = -1;
    let sameSince = started;
    let trace = null;
    let lastStatus = 0;
    const draw = (state) => render(container, trace, state, { headingLevel });
    showMessage(container, "arriving", "Waiting for the trace's spans…");
    // Stops when the container leaves the page (its result box was redrawn by a new click).
    while (container.isConnected) {
      const { status, answer } = await look(traceId);
      lastStatus = status;
      // The frontend's own answers (Jaeger's carry `errors`): no source of traces here, or a
      // request it refuses; a failing upstream (5xx) may recover, so it is asked again.
      if (answer && answer.error === "no_trace_source") {
        container.replaceChildren();
        return "no-source";
      }
      if (answer && answer.error && status >= 400 && status < 500) {
        showMessage(container, "not-found", answer.message || answer.error, link);
        return "no-source";
      }
      try {
        const data = status === 200 && answer && answer.data && answer.data[0];
        const read = data ? readTrace(data) : null;
        if (read && read.spans.length) {
          trace = read;
          const size = trace.spans.length + trace.logs.length;
          const now = performance.now();
          if (size !== seen) sameSince = now;
          seen = size;
          const settled = now - sameSince;
          const waiting = trace.missingParents > 0;
          const unanswered = trace.unansweredCalls > 0 || trace.waitingRoots > 0;
          if (!waiting && settled >= (unanswered ? QUIET_MS : CONFIRM_MS)) {
            const complete = {
              className: "complete",
              text: unanswered
                ? "Complete, though some calls have no server span (their service did not answer, or is not traced)."
                : "Complete: every span's parent and every call's server span are here.",
            };
            draw(complete);
            if (onComplete) onComplete(trace);
            await lateLogs(container, traceId, trace, (later) => {
              trace = later;
              draw(complete);
            });
            return "complete";
          }
          draw({ className: "arriving", text: "Spans are still arriving…" });
        }
      } catch (error) {
        showMessage(container, "not-found", `This trace could not be read: ${error}.`, link);
        return "incomplete";
      }
      if (performance.now() - started > GIVE_UP_MS) {
        if (trace) {
          draw({
            className: "incomplete",
            text: trace.missingParents
              ? "Incomplete: some spans' parents never arrived."
              : "Still growing when this view stopped looking.",
          });
          return "incomplete";
        }
        showMessage(container, "not-found", neverArrived(traceId, lastStatus), link);
        return "not-found";
      }
      await new Promise((resolve) => setTimeout(resolve, LOOK_EVERY_MS));
    }
    return "replaced";
  }

  // element and traceLink too: the demo page (app.js, loaded after this file) builds with them.
  window.TraceView = { readTrace, whatToNotice, render, watch, element, traceLink };
})();
