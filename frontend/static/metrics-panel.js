// The click's metrics, beside its trace: for each service the click crossed, the server
// duration histogram of the route it hit (how many requests that route has served, where this
// request falls: its duration beside p50 and p95) with the exemplar that carries this click's
// trace id, and the business counters of those services by outcome.
//
// It reads one shape, OpenMetrics text with exemplars, from the page's own origin:
// `/api/metrics`, the Collector's prometheus exporter (compose, Kubernetes) or, in `make run`,
// the frontend server's rendering of what the services export. An exemplar lives until the
// next export replaces it, so the panel keeps the click's exemplar once it has seen it.
"use strict";

(() => {
  // Under half the services' export interval (1 s in the tests, 5 s in make run and compose):
  // an exemplar lives one export, and no look may miss it.
  const LOOK_EVERY_MS = 400;
  const GIVE_UP_MS = 30000;
  const DURATION = "http_server_request_duration_seconds";
  const COUNTERS = ["app_orders", "app_credits", "app_money_moved"];
  const { element } = window.TraceView;

  /** `name{labels}` with `"`-quoted values, as OpenMetrics writes them. */
  function labelsOf(text) {
    const labels = {};
    for (const [, key, value] of (text || "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
      labels[key] = value.replace(/\\(.)/g, (_, c) => (c === "n" ? "\n" : c));
    }
    return labels;
  }

  const SAMPLE =
    /^([a-zA-Z_:][\w:]*)(\{.*?\})?\s+(\S+)(?:\s+\S+)?(?:\s+#\s+(\{.*?\})\s+(\S+)(?:\s+(\S+))?)?$/;

  /** An OpenMetrics number: also `+Inf`, `-Inf` and `NaN`, which `Number` does not read. */
  function number(text) {
    return { "+Inf": Infinity, "-Inf": -Infinity, NaN: NaN }[text] ?? Number(text);
  }

  /** OpenMetrics text → its samples: {name, labels, value, exemplar|null}. */
  function parse(text) {
    const samples = [];
    for (const line of text.split("\n")) {
      if (!line || line.startsWith("#")) continue;
      const match = SAMPLE.exec(line);
      if (!match) continue;
      const [, name, labels, value, exemplarLabels, exemplarValue, exemplarTime] = match;
      samples.push({
        name,
        labels: labelsOf(labels),
        value: number(value),
        exemplar: exemplarLabels
          ? {
              labels: labelsOf(exemplarLabels),
              value: number(exemplarValue),
              time: exemplarTime ? Number(exemplarTime) : null,
            }
          : null,
      });
    }
    return samples;
  }

  /** The Prometheus job of a service: its name, or namespace/name. */
  function isService(labels, service) {
    const job = labels.job || labels.service_name || "";
    return job === service || job.endsWith(`/${service}`);
  }

  /** The q-quantile of cumulative buckets [{le, count}], as Prometheus' histogram_quantile. */
  function quantile(q, buckets) {
    const total = buckets.length ? buckets[buckets.length - 1].count : 0;
    if (!total) return null;
    const rank = q * total;
    let lower = 0;
    let below = 0;
    for (const { le, count } of buckets) {
      if (count >= rank) {
        if (!Number.isFinite(le)) return lower;
        return lower + ((le - lower) * (rank - below)) / Math.max(count - below, 1);
      }
      lower = le;
      below = count;
    }
    return lower;
  }

  /** What the samples say of one route (and method) of one service, over its instances. */
  function routeFigures(samples, { service, route, method }) {
    const mine = (suffix) =>
      samples.filter(
        (s) =>
          s.name === `${DURATION}${suffix}` &&
          isService(s.labels, service) &&
          s.labels.http_route === route &&
          (!method || s.labels.http_request_method === method),
      );
    const byLe = new Map();
    const exemplars = [];
    for (const sample of mine("_bucket")) {
      const le = sample.labels.le === "+Inf" ? Infinity : Number(sample.labels.le);
      byLe.set(le, (byLe.get(le) || 0) + sample.value);
      if (sample.exemplar) exemplars.push({ ...sample.exemplar, le, instance: sample.labels.instance });
    }
    const buckets = [...byLe.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([le, count]) => ({ le, count }));
    const count = mine("_count").reduce((sum, s) => sum + s.value, 0);
    return { buckets, count, exemplars };
  }

  /**
   * The business counters of `service`, by name and outcome (or flow): their totals, and the
   * ones this click moved (a series whose exemplar carries `traceId`).
   */
  function counterFigures(samples, service, traceId) {
    const totals = new Map();
    const moved = new Set();
    for (const sample of samples) {
      const counter = COUNTERS.find((name) => sample.name.startsWith(`${name}_total`));
      if (!counter || !sample.name.endsWith("_total") || !isService(sample.labels, service)) {
        continue;
      }
      const by = sample.labels.app_outcome || sample.labels.app_flow || "";
      const key = `${counter}${by ? ` ${by}` : ""}`;
      totals.set(key, (totals.get(key) || 0) + sample.value);
      if (sample.exemplar && sample.exemplar.labels.trace_id === traceId) moved.add(key);
    }
    return { totals, moved };
  }

  function milliseconds(seconds) {
    if (seconds === null || seconds === undefined) return "–";
    const ms = seconds * 1000;
    return ms < 1 ? `${Math.round(ms * 1000)} µs` : `${ms.toFixed(ms < 10 ? 1 : 0)} ms`;
  }

  /** The routes the click hit: our services' server spans, once per service, method and route. */
  function routesOf(trace) {
    const seen = new Map();
    for (const span of trace.spans) {
      const route = span.tags.get("http.route");
      if (span.kind !== "server" || !route || span.service === "frontend") continue;
      const method = span.tags.get("http.request.method") || span.tags.get("http.method") || "";
      const key = `${span.service} ${method} ${route}`;
      if (!seen.has(key)) {
        seen.set(key, {
          service: span.service,
          route,
          method,
          seconds: span.duration / 1e6,
          end: span.end / 1e6,
          exemplar: null,
        });
      }
    }
    return [...seen.values()];
  }

  /** Draw the panel from one look's `samples`; what the click's exemplars showed is kept in
   * `routes` and `moved` (an exemplar lives one export). */
  function draw(container, traceId, routes, moved, samples, waiting) {
    const panel = element("section", "click-metrics");
    panel.append(element("h3", "click-metrics-title", "Metrics of this click"));
    const table = element("table", "route-metrics");
    const head = element("tr");
    for (const title of ["service · route", "requests", "this one", "p50", "p95", "exemplar"]) {
      head.append(element("th", null, title));
    }
    table.append(head);
    for (const route of routes) {
      const figures = routeFigures(samples, route);
      const mine = figures.exemplars.find((e) => e.labels.trace_id === traceId);
      if (mine) route.exemplar = mine;
      // Replaced: in this request's bucket every worker's exemplar is a request recorded after
      // it ended, so its own can no longer come.
      const bucket = figures.buckets.find(({ le }) => route.seconds <= le);
      const inBucket = figures.exemplars.filter((e) => bucket && e.le === bucket.le);
      if (!route.exemplar && inBucket.length && inBucket.every((e) => e.time > route.end)) {
        route.replaced = true;
      }
      const row = element("tr", "route-row");
      row.dataset.service = route.service;
      row.append(element("td", null, `${route.service} · ${route.method} ${route.route}`));
      // The count once it holds this request (its exemplar's export), not before.
      const counted = route.exemplar || route.replaced;
      row.append(element("td", "route-count", counted ? String(figures.count) : "–"));
      row.append(element("td", "this-one", milliseconds(route.seconds)));
      row.append(element("td", null, milliseconds(quantile(0.5, figures.buckets))));
      row.append(element("td", null, milliseconds(quantile(0.95, figures.buckets))));
      const cell = element("td", "exemplar");
      if (route.exemplar) {
        cell.classList.add("found");
        cell.append("this click's trace ", element("code", "exemplar-trace-id", traceId));
        cell.title = `Recorded inside this request's span, in the bucket ≤ ${milliseconds(
          route.exemplar.le,
        )}: the number and the trace are the same request.`;
      } else if (route.replaced) {
        cell.textContent = "replaced by a later request before it was read";
      } else {
        cell.textContent = waiting ? "waiting for the next export…" : "not seen";
      }
      row.append(cell);
      table.append(row);
    }
    panel.append(table);
    for (const service of new Set(routes.map((route) => route.service))) {
      const { totals, moved: now } = counterFigures(samples, service, traceId);
      for (const key of now) moved.set(`${service} · ${key}`, totals.get(key));
    }
    if (moved.size) {
      const counters = element("ul", "business-counters");
      counters.append(element("li", "counters-note", "Business counters this click moved:"));
      for (const [name, total] of moved) {
        const item = element("li", null, `${name}: ${total}`);
        item.dataset.counter = name;
        counters.append(item);
      }
      panel.append(counters);
    }
    container.replaceChildren(panel);
  }

  /**
   * Read `/api/metrics` until every route's exemplar for `traceId` has been seen (or
   * GIVE_UP_MS), drawing each look. `trace`: the click's trace, as TraceView.readTrace gives it.
   */
  async function watch(container, traceId, trace) {
    const routes = routesOf(trace);
    if (!routes.length) return "no-routes";
    const moved = new Map();
    const started = performance.now();
    container.replaceChildren(element("p", "metrics-note", "Waiting for the services' metrics…"));
    while (container.isConnected) {
      let answer = null;
      try {
        const response = await fetch("/api/metrics", { cache: "no-store" });
        const type = response.headers.get("Content-Type") || "";
        const error = type.includes("json") ? await response.json() : null;
        if (error && error.error === "no_metrics_source") {
          // No metrics here (SigNoz): say where they are instead.
          container.replaceChildren(
            element(
              "p",
              "metrics-note",
              `${error.message || "No metrics source here."} With SigNoz: its Metrics ` +
                "explorer and dashboards (the trace link above opens SigNoz).",
            ),
          );
          return "no-source";
        }
        if (response.ok && !error) answer = await response.text();
      } catch {
        answer = null;
      }
      const waiting = performance.now() - started < GIVE_UP_MS;
      if (answer !== null) {
        draw(container, traceId, routes, moved, parse(answer), waiting);
        if (routes.every((route) => route.exemplar || route.replaced)) return "complete";
      }
      if (!waiting) return "incomplete";
      await new Promise((resolve) => setTimeout(resolve, LOOK_EVERY_MS));
    }
    return "replaced";
  }

  window.MetricsPanel = { parse, quantile, watch };
})();
