// Browser tracing for the demo page, bundled by esbuild into static/otel-tracing.js.
//
// Every click runs inside a span of service "frontend"; the fetch instrumentation makes a
// client span under it and sends `traceparent` (and `baggage`) with the request, so the click,
// the services and their SQL are ONE trace. Spans go over OTLP/HTTP (protobuf) to the page's
// own origin at /otlp-http/v1/traces, which the frontend server forwards to the collector:
// no CORS, nothing loaded from anywhere else.
import { SpanStatusCode, context, propagation, trace } from "@opentelemetry/api";
import {
  CompositePropagator,
  W3CBaggagePropagator,
  W3CTraceContextPropagator,
} from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { registerInstrumentations } from "@opentelemetry/instrumentation";
import { DocumentLoadInstrumentation } from "@opentelemetry/instrumentation-document-load";
import { FetchInstrumentation } from "@opentelemetry/instrumentation-fetch";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BatchSpanProcessor, WebTracerProvider } from "@opentelemetry/sdk-trace-web";

const OTLP_PATH = "/otlp-http/v1/traces";

const provider = new WebTracerProvider({
  resource: resourceFromAttributes({
    "service.name": "frontend",
    "service.namespace": "tracing-demo",
  }),
  spanProcessors: [
    new BatchSpanProcessor(new OTLPTraceExporter({ url: OTLP_PATH }), {
      scheduledDelayMillis: 500,
    }),
  ],
});
provider.register({
  propagator: new CompositePropagator({
    propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()],
  }),
});

// Attributes a click gives one of its fetches' spans (see traceClick), by the fetch's init object:
// the instrumentation hands that very object to its hooks.
const fetchSpanAttributes = new WeakMap();

registerInstrumentations({
  tracerProvider: provider,
  instrumentations: [
    new DocumentLoadInstrumentation(),
    new FetchInstrumentation({
      // Same-origin requests always carry traceparent; never trace the span export itself,
      // nor the trace view reading traces back (each look would start a trace of its own).
      ignoreUrls: [/\/otlp-http\//, /\/api\/traces\//],
      clearTimingResources: true,
      requestHook: (span, init) => {
        const attributes = fetchSpanAttributes.get(init);
        if (attributes) span.setAttributes(attributes);
      },
      // An answered write sent with an idempotency key says whether the answer replays an
      // earlier attempt's (the Idempotent-Replayed header), as the services' client spans do.
      applyCustomAttributesOnSpan: (span, init, result) => {
        const attributes = fetchSpanAttributes.get(init);
        if (attributes && "app.idempotency.key" in attributes && result instanceof Response) {
          const replayed = result.headers.get("Idempotent-Replayed") === "true";
          span.setAttribute("app.idempotency.replayed", replayed);
        }
      },
    }),
  ],
});

const tracer = trace.getTracer("frontend");

/**
 * Run `work` inside a span named `name` (the root of the click's trace).
 *
 * `work` receives a `fetch` bound to the span's context, so every request it makes, even
 * after an `await`, is a child of the click; its optional third argument holds attributes for
 * that request's client span (`http.request.resend_count`, `app.idempotency.key`).
 * `baggage` entries ride along to every service.
 */
async function traceClick(name, attributes, work, baggage = {}) {
  return tracer.startActiveSpan(name, { attributes, root: true }, async (span) => {
    let ctx = context.active();
    const entries = Object.entries(baggage).filter(([, value]) => value);
    if (entries.length) {
      const bag = propagation.createBaggage(
        Object.fromEntries(entries.map(([key, value]) => [key, { value: String(value) }])),
      );
      ctx = propagation.setBaggage(ctx, bag);
    }
    const tracedFetch = (input, init = {}, spanAttributes = null) => {
      if (spanAttributes) fetchSpanAttributes.set(init, spanAttributes);
      return context.with(ctx, () => fetch(input, init));
    };
    try {
      return await work(tracedFetch, span);
    } catch (error) {
      span.recordException(error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: String(error) });
      throw error;
    } finally {
      span.end();
    }
  });
}

window.demoTracing = {
  traceClick,
  flush: () => provider.forceFlush(),
};
