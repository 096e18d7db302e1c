// The demo page: three steps, each click one trace (see otel-tracing.js for the tracing).
"use strict";

const config = window.DEMO_CONFIG || {};
const tracing = window.demoTracing;
const state = { user: null };

const $ = (id) => document.getElementById(id);

function formatCents(cents) {
  return `$${(cents / 100).toFixed(2)}`;
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

/** Call the API on this page's origin; always resolve to {status, ok, payload, traceId}. */
async function callApi(tracedFetch, method, path, body) {
  const init = { method, headers: {} };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await tracedFetch(path, init);
  let payload;
  try {
    payload = await response.json();
  } catch {
    payload = { error: "invalid_response", message: `HTTP ${response.status} without a JSON body.` };
  }
  return { status: response.status, ok: response.ok, payload, traceId: traceIdFrom(response) };
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** Render a response: status, the error message if any, the JSON, and the trace link. */
function showResult(box, label, result) {
  box.replaceChildren();
  box.classList.toggle("error", !result.ok);
  box.append(element("div", "status", `${result.status} · ${label}`));
  if (!result.ok && result.payload.message) {
    box.append(element("p", "message", result.payload.message));
  }
  box.append(element("pre", "json", JSON.stringify(result.payload, null, 2)));
  if (result.traceId) {
    const line = element("div", "trace");
    line.append("Trace ", element("code", "trace-id", result.traceId));
    const url = traceUrl(result.traceId);
    if (url) {
      const link = element("a", "trace-link", "open in the trace UI");
      link.href = url;
      link.target = "_blank";
      link.rel = "noopener";
      line.append(" · ", link);
    }
    box.append(line);
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
  return tracing.traceClick(name, all, work, scenarioBaggage());
}

function setUser(user) {
  state.user = user;
  $("current-user").textContent = user ? `#${user.id} (${user.account})` : "none yet";
  $("balance").textContent = user ? formatCents(user.amount) : "—";
}

/** Disable the form's button while its request runs; show network failures in the box. */
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
  });
}

onSubmit("create-user-form", "create-user-result", async (form, box) => {
  // The API refuses surrounding spaces (its schema says so); what a person types is trimmed here.
  const body = {
    user_name: String(form.get("user_name")).trim(),
    account: String(form.get("account")).trim(),
  };
  await traceClick("click Create User", { "app.action": "create user" }, async (f, span) => {
    const result = await callApi(f, "POST", "/users", body);
    if (result.ok) {
      setUser(result.payload);
      span.setAttribute("app.user.id", result.payload.id);
    }
    showResult(box, "Create User", result);
  });
});

onSubmit("transfer-form", "transfer-result", async (form, box) => {
  if (!state.user) return showProblem(box, "Create a user first.");
  const cents = Math.round(Number(form.get("amount")) * 100);
  const attributes = { "app.action": "transfer funds", "app.user.id": state.user.id };
  await traceClick("click Transfer Fund", attributes, async (f) => {
    const result = await callApi(f, "PUT", `/payments/transfer/id/${state.user.id}`, {
      amount: cents,
    });
    if (result.ok) setUser({ ...state.user, amount: result.payload.balance });
    showResult(box, "Transfer Fund", result);
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
    const result = await callApi(f, "POST", "/orders", {
      user_id: state.user.id,
      product_id: productId,
    });
    showResult(box, "Place Order", result);
    // Refresh the balance; this read is part of the same click, so of the same trace.
    const user = await callApi(f, "GET", `/users/${state.user.id}`);
    if (user.ok) setUser(user.payload);
  });
});

async function loadProducts() {
  const select = $("product-select");
  await tracing.traceClick("load catalog", { "app.action": "list products" }, async (f) => {
    const result = await callApi(f, "GET", "/products");
    if (!result.ok) return showResult($("order-result"), "Load products", result);
    select.replaceChildren(
      ...result.payload.map((product) => {
        const option = element("option", "", `${product.name} — ${formatCents(product.price)}`);
        option.value = product.id;
        return option;
      }),
    );
  });
}

loadProducts().catch((error) => showProblem($("order-result"), `Network error: ${error}`));
