// The demo page: three steps, each click one trace (see otel-tracing.js for the tracing), drawn
// under its result by trace-view.js.
"use strict";

const config = window.DEMO_CONFIG || {};
const tracing = window.demoTracing;
// The user step 1 created, and the catalog by product id (its names go into messages).
const state = { user: null, products: new Map() };
// How many of the user's latest credits and orders the page lists.
const HISTORY_SIZE = 5;
// A write that moves money got no answer from the service that applies it: the frontend could
// not reach that service (502), or that service could not reach or wait for the users service
// (502, 504). It may or may not have been applied, so the page sends it once more with the same
// Idempotency-Key: a service that applied it answers from its record instead of applying it again.
const NO_ANSWER = new Set([502, 504]);
const RETRY_AFTER_MS = 250;

const $ = (id) => document.getElementById(id);

// Money: the API counts integer cents; a person reads and types dollars.
const DOLLARS = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD" });

/** Cents as the API sends them, as a person reads them: 1200 → "$12.00". */
function formatCents(cents) {
  return DOLLARS.format(cents / 100);
}

/**
 * Dollars as a person types them ("25", "12.5", "$12.50") as the API's integer cents (1250).
 * Returns `{ cents }`, or `{ problem }`: a sentence saying what to type instead.
 * The digits are read as text, not as a float, so "0.29" is exactly 29 cents.
 */
function dollarsToCents(typed) {
  const match = /^\$?(\d+)(?:\.(\d+))?$/.exec(typed.trim());
  if (!match) return { problem: "Type an amount in dollars, such as 25 or 12.50." };
  const [, whole, fraction = ""] = match;
  if (fraction.length > 2) {
    return { problem: `${typed.trim()} has more than 2 decimals: amounts are whole cents.` };
  }
  const cents = Number(whole) * 100 + Number(fraction.padEnd(2, "0"));
  if (!Number.isSafeInteger(cents)) return { problem: "That amount is too large." };
  return { cents };
}

/**
 * The API's error message with its amounts in dollars. The API writes cents ("costs 12900
 * cents, the balance is 500"); where the error carries the amounts as fields, the page
 * writes its own sentence from them.
 */
function errorMessage(payload, productName = "the product") {
  if (payload.error === "insufficient_funds") {
    return (
      `Insufficient funds: ${productName} costs ${formatCents(payload.price)}, ` +
      `the balance is ${formatCents(payload.balance)}, ${formatCents(payload.missing)} short.`
    );
  }
  let message = String(payload.message || "");
  // Other sentences say "<n> cents" ("A balance may not exceed 1000000000000 cents.").
  message = message.replace(/\b(\d+) cents\b/g, (_, cents) => formatCents(Number(cents)));
  // A refused "amount" field states its limits in cents without saying so ("... equal to 1").
  if (payload.field === "amount") {
    message = message.replace(/\b\d+\b/g, (cents) => formatCents(Number(cents)));
  }
  return message;
}

/** A stopwatch for a click's API calls: `const took = stopwatch();`, later `took()` in ms. */
function stopwatch() {
  const started = performance.now();
  return () => Math.round(performance.now() - started);
}

/** The trace id from the W3C `traceresponse` header: `00-<trace id>-<span id>-<flags>`. */
function traceIdFrom(response) {
  const parts = (response.headers.get("traceresponse") || "").split("-");
  return parts.length === 4 && /^[0-9a-f]{32}$/.test(parts[1]) ? parts[1] : null;
}

/** A link into the tracing UI, from the configured template (`{trace_id}` is replaced). */
function traceUrl(traceId) {
  return config.traceUiUrl ? config.traceUiUrl.replace("{trace_id}", traceId) : null;
}

/**
 * Call the API on this page's origin; resolve to {status, ok, payload, traceId, replayed}
 * (`replayed`: the answer is the recorded one of an earlier request with the same key).
 * `headers` are added to the request, `spanAttributes` to its client span.
 */
async function callApi(tracedFetch, method, path, body, { headers = {}, spanAttributes } = {}) {
  const init = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await tracedFetch(path, init, spanAttributes);
  let payload;
  try {
    payload = await response.json();
  } catch {
    payload = { error: "invalid_response", message: `HTTP ${response.status} without a JSON body.` };
  }
  return {
    status: response.status,
    ok: response.ok,
    payload,
    traceId: traceIdFrom(response),
    replayed: response.headers.get("Idempotent-Replayed") === "true",
  };
}

/** A fresh idempotency key: a random UUID. */
function newIdempotencyKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  // randomUUID exists only in secure contexts (https, localhost): the page may be served on
  // plain http under another name, where getRandomValues still works. A version 4 UUID.
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = [...bytes].map((byte) => byte.toString(16).padStart(2, "0")).join("");
  return hex.replace(/^(.{8})(.{4})(.{4})(.{4})(.{12})$/, "$1-$2-$3-$4-$5");
}

/**
 * A write that moves money, as payment APIs take them: with a fresh Idempotency-Key (a quoted
 * string, as the IETF draft writes it), and when no answer came (a network error, 502 or 504)
 * sent ONCE more with the same key, within the same click, so its trace shows both attempts.
 * Resolves like callApi, plus `retry`: null, or what the first attempt got. Throws when the
 * retry, too, met a network error.
 */
async function moneyCall(tracedFetch, method, path, body) {
  const key = newIdempotencyKey();
  const send = (resendCount) =>
    callApi(tracedFetch, method, path, body, {
      headers: { "Idempotency-Key": `"${key}"` },
      spanAttributes: {
        "app.idempotency.key": key,
        // OpenTelemetry's name for "this request is the n-th resend of the same one".
        ...(resendCount ? { "http.request.resend_count": resendCount } : {}),
      },
    });
  let first;
  try {
    first = await send(0);
    if (!NO_ANSWER.has(first.status)) return { ...first, retry: null };
  } catch (error) {
    first = { error };
  }
  const got = first.error
    ? `a network error: ${first.error.message || first.error}`
    : `${first.status} ${first.payload.error || ""}`.trim();
  await new Promise((resolve) => setTimeout(resolve, RETRY_AFTER_MS));
  try {
    return { ...(await send(1)), retry: { first: got } };
  } catch (error) {
    throw new Error(
      `${error.message || error}, also when retried with the same key (the first attempt got ` +
        `${got}). It may or may not have been applied: the lists below show what was recorded.`,
    );
  }
}

/** What a retried write's answer means, in a sentence; `retry` is moneyCall's. */
function retrySentence(result) {
  const got = result.retry.first;
  const retried = `The first attempt got no answer (${got}); retried once with the same key: `;
  if (result.replayed) return `${retried}answered from the first attempt, so it was applied once.`;
  if (result.status === 409) {
    return (
      `${retried}the first request is still being processed, so the page does not retry ` +
      `again; the lists below show it once it is done.`
    );
  }
  if (NO_ANSWER.has(result.status)) {
    return (
      `${retried}no answer again. It may or may not have been applied: the lists below show ` +
      `what was recorded.`
    );
  }
  if (result.ok) return `${retried}the first attempt had not been applied; this one was.`;
  return `${retried}answered ${result.status}.`;
}

const { element, traceLink } = window.TraceView; // trace-view.js runs first (both deferred)

/**
 * Render a response: status and duration, a sentence in dollars (`message`, or the error's
 * own), the API's JSON (in cents), and the trace link.
 */
function showResult(box, label, result, { took, message }) {
  box.replaceChildren();
  box.classList.toggle("error", !result.ok);
  const status = element("div", "status", `${result.status} · ${label} · `);
  const duration = element("span", "duration", `took ${took} ms`);
  duration.title = "Measured in the page around this click's API calls; compare the trace.";
  status.append(duration);
  box.append(status);
  if (result.retry) box.append(element("p", "retry", retrySentence(result)));
  const sentence = message ?? (result.ok ? "" : errorMessage(result.payload));
  if (sentence) box.append(element("p", "message", sentence));
  box.append(element("div", "json-label", "The API's answer (amounts in cents):"));
  box.append(element("pre", "json", JSON.stringify(result.payload, null, 2)));
  if (result.traceId) {
    const line = element("div", "trace");
    line.append("Trace ", element("code", "trace-id", result.traceId));
    const url = traceUrl(result.traceId);
    if (url) line.append(" · ", traceLink(url, "open in the trace UI"));
    // The click's trace right here: its waterfall, what to notice, its logs (their heading an
    // h3, under the step's h2).
    const view = element("div", "inline-trace");
    // And its metrics beside it, once the trace says which services and routes it crossed.
    const metrics = element("div", "inline-metrics");
    box.append(line, view, metrics);
    window.TraceView.watch(view, result.traceId, {
      link: url,
      headingLevel: 3,
      onComplete: (trace) => window.MetricsPanel.watch(metrics, result.traceId, trace),
    });
  }
}

function showProblem(box, message) {
  box.replaceChildren(element("div", "status", message));
  box.classList.add("error");
}

/** The chosen scenario travels as W3C baggage to every service the click reaches. */
function scenarioBaggage() {
  const scenario = $("scenario").value;
  return scenario ? { "demo.scenario": scenario } : {};
}

/** Run a click's work in its own trace, with the scenario (if any) on span and baggage. */
function traceClick(name, attributes, work) {
  const scenario = $("scenario").value;
  const all = scenario ? { ...attributes, "app.scenario": scenario } : attributes;
  // Once the click is done, send its spans at once, and again shortly after for the last fetch
  // span (the fetch instrumentation ends it after the response's timing arrives): waiting for
  // the next batch, which a background tab may delay by seconds, would leave the trace torn.
  return tracing.traceClick(name, all, work, scenarioBaggage()).finally(() => {
    tracing.flush();
    setTimeout(() => tracing.flush(), 500);
  });
}

function setUser(user) {
  state.user = user;
  $("current-user").textContent = user ? `#${user.id} (${user.account})` : "none yet";
  $("balance").textContent = user ? formatCents(user.amount) : "—";
}

/** An ISO 8601 time as a person reads it, in a <time> element. */
function timeElement(iso) {
  const when = new Date(iso);
  const node = element("time", "when", Number.isNaN(when.getTime()) ? iso : when.toLocaleString());
  node.dateTime = iso;
  return node;
}

/** One line of a list: its words, and a link to the trace that wrote it (if it has one). */
function historyItem(parts, traceId) {
  const item = element("li");
  item.append(...parts);
  if (traceId) {
    item.dataset.traceId = traceId;
    const url = traceUrl(traceId);
    const label = `trace ${traceId.slice(0, 8)}…`;
    const link = url ? traceLink(url, label) : element("code", "trace-id", label);
    link.title = `The trace that wrote it: ${traceId}`;
    item.append(" · ", link);
  } else {
    item.append(" · ", element("span", "no-trace", "no trace recorded"));
  }
  return item;
}

function creditItem(credit) {
  const what = credit.source === "opening" ? "opening balance" : `credit #${credit.id}`;
  const amount = element("strong", "amount", `+${formatCents(credit.amount)}`);
  return historyItem([timeElement(credit.created_at), " ", amount, ` ${what}`], credit.trace_id);
}

function orderItem(order) {
  const what = `order #${order.id}: ${order.product_name}, ${order.status}`;
  const amount = element("strong", "amount", `−${formatCents(order.price)}`);
  return historyItem([timeElement(order.created_at), " ", amount, ` ${what}`], order.trace_id);
}

/** Fill one list from a listing's answer (`key`: its array), or say why it cannot. */
function showList(list, result, key, toItem, none) {
  if (!result.ok) {
    const why = errorMessage(result.payload);
    list.replaceChildren(element("li", "problem", `Could not read them: ${why}`));
  } else if (!result.payload[key].length) {
    list.replaceChildren(element("li", "empty", none));
  } else {
    list.replaceChildren(...result.payload[key].map(toItem));
  }
}

/**
 * Read the current user's latest credits and orders, as the services recorded them, each with
 * the trace that wrote it. A trace of its own: the click's trace stays the story of the click.
 */
async function refreshHistory() {
  const user = state.user;
  if (!user) return;
  const attributes = { "app.action": "list history", "app.user.id": user.id };
  try {
    await tracing.traceClick("refresh history", attributes, async (f) => {
      const [credits, orders] = await Promise.all([
        callApi(f, "GET", `/users/${user.id}/credits?limit=${HISTORY_SIZE}`),
        callApi(f, "GET", `/orders?user_id=${user.id}&limit=${HISTORY_SIZE}`),
      ]);
      if (state.user?.id !== user.id) return; // another user was created meanwhile
      showList($("credits-list"), credits, "credits", creditItem, "No credits yet.");
      showList($("orders-list"), orders, "orders", orderItem, "No orders yet.");
    });
  } catch (error) {
    const why = `Could not read them: ${error.message || error}`;
    for (const list of [$("credits-list"), $("orders-list")]) {
      list.replaceChildren(element("li", "problem", why));
    }
  }
}

/**
 * Disable the form's button while its request runs; show network failures in the box; then
 * read the user's credits and orders again.
 */
function onSubmit(formId, resultId, handler) {
  const form = $(formId);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = form.querySelector("button");
    button.disabled = true;
    try {
      await handler(new FormData(form), $(resultId));
    } catch (error) {
      showProblem($(resultId), `Network error: ${error.message || error}`);
    } finally {
      button.disabled = false;
    }
    // Whatever the click did or did not do, the lists say what the services recorded.
    await refreshHistory();
  });
}

onSubmit("create-user-form", "create-user-result", async (form, box) => {
  // The API refuses surrounding spaces (its schema says so); what a person types is trimmed here.
  const body = {
    user_name: String(form.get("user_name")).trim(),
    account: String(form.get("account")).trim(),
  };
  await traceClick("click Create User", { "app.action": "create user" }, async (f, span) => {
    const took = stopwatch();
    const result = await callApi(f, "POST", "/users", body);
    const user = result.payload;
    let message;
    if (result.ok) {
      setUser(user);
      span.setAttribute("app.user.id", user.id);
      message = `Created user #${user.id} (${user.account}), balance ${formatCents(user.amount)}.`;
    }
    showResult(box, "Create User", result, { took: took(), message });
  });
});

onSubmit("transfer-form", "transfer-result", async (form, box) => {
  if (!state.user) return showProblem(box, "Create a user first.");
  // A person types dollars; the API takes integer cents.
  const amount = dollarsToCents(String(form.get("amount")));
  if (amount.problem) return showProblem(box, amount.problem);
  const attributes = { "app.action": "transfer funds", "app.user.id": state.user.id };
  await traceClick("click Transfer Fund", attributes, async (f) => {
    const took = stopwatch();
    const result = await moneyCall(f, "PUT", `/payments/transfer/id/${state.user.id}`, {
      amount: amount.cents,
    });
    const transfer = result.payload;
    let message;
    if (result.ok) {
      setUser({ ...state.user, amount: transfer.balance });
      const balance = formatCents(transfer.balance);
      message = `Transferred ${formatCents(transfer.amount)}; the balance is now ${balance}.`;
    }
    showResult(box, "Transfer Fund", result, { took: took(), message });
  });
});

onSubmit("order-form", "order-result", async (form, box) => {
  if (!state.user) return showProblem(box, "Create a user first.");
  const productId = Number(form.get("product_id"));
  const attributes = {
    "app.action": "place order",
    "app.user.id": state.user.id,
    "app.product.id": productId,
  };
  await traceClick("click Place Order", attributes, async (f) => {
    const took = stopwatch();
    const result = await moneyCall(f, "POST", "/orders", {
      user_id: state.user.id,
      product_id: productId,
    });
    // Refresh the balance; this read is part of the same click, so of the same trace.
    const user = await callApi(f, "GET", `/users/${state.user.id}`);
    const elapsed = took();
    if (user.ok) setUser(user.payload);
    const order = result.payload;
    const message = result.ok
      ? `Paid ${formatCents(order.price)} for ${order.product_name}: order #${order.id}.`
      : errorMessage(order, state.products.get(productId)?.name);
    showResult(box, "Place Order", result, { took: elapsed, message });
  });
});

async function loadProducts() {
  const select = $("product-select");
  await tracing.traceClick("load catalog", { "app.action": "list products" }, async (f) => {
    const took = stopwatch();
    const result = await callApi(f, "GET", "/products");
    if (!result.ok) {
      return showResult($("order-result"), "Load products", result, { took: took() });
    }
    state.products = new Map(result.payload.map((product) => [product.id, product]));
    select.replaceChildren(
      ...result.payload.map((product) => {
        const option = element("option", "", `${product.name} — ${formatCents(product.price)}`);
        option.value = product.id;
        return option;
      }),
    );
  });
}

/**
 * The notice's words for a failed export of the browser's spans: what the page's origin
 * answered (`outcome`, see onExport in otel-tracing.js), what to check, and how many exports in
 * a row failed.
 */
function exportProblem(outcome, failed) {
  const path = "/otlp-http/v1/traces";
  let answered;
  if (!outcome.status) {
    answered = `Sending them to ${path} got no answer (${outcome.message}).`;
  } else if (outcome.status >= 200 && outcome.status < 300) {
    answered = `Sending them to ${path} failed (${outcome.message}).`;
  } else {
    const what = `${outcome.status}${outcome.error ? ` ${outcome.error}` : ""}`;
    answered = `The frontend answered ${path} with ${what}`;
    answered += outcome.message ? `: ${outcome.message}` : ".";
  }
  const times = failed === 1 ? "1 export" : `${failed} exports in a row`;
  return [
    element("strong", "", "The browser's spans are not reaching the collector. "),
    `${answered} Check the frontend's collector address, COLLECTOR_OTLP_HTTP_URL (the frontend ` +
      "server's; in the containers, nginx's upstream for /otlp-http/): it must reach the " +
      "collector's OTLP/HTTP receiver, port 4318 (4317 is OTLP/gRPC), from where the frontend " +
      `runs. ${times} failed; the clicks still work, but their traces lack the browser's ` +
      "spans until an export gets through.",
  ];
}

// While the browser's spans fail to reach the collector, ONE notice says so (not one per
// export) and what to check; the next export that gets through clears it.
let failedExports = 0;
tracing.onExport((outcome) => {
  const notice = $("telemetry-notice");
  if (outcome.ok) {
    failedExports = 0;
    notice.hidden = true;
    notice.replaceChildren();
    delete notice.dataset.failedExports;
    return;
  }
  failedExports += 1;
  notice.dataset.failedExports = String(failedExports);
  notice.replaceChildren(...exportProblem(outcome, failedExports));
  notice.hidden = false;
});

loadProducts().catch((error) => showProblem($("order-result"), `Network error: ${error}`));
