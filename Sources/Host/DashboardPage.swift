/// The page `mmstats serve` answers at `/`: live graphs of chosen metrics, drawn on canvases
/// by a small script, from `/api/metrics` (the names) and `/api/aggregate` (the values). No
/// external assets: the page works offline and sends nothing anywhere else.
///
/// Query string: `m=NAME[.FIELD],…` the metrics to graph (default: the first six counters and
/// gauges found), `interval=SECONDS` (default 1), `points=N` points kept per graph (default 300).
/// Counters are drawn as a rate per second (the change between two polls), other fields as
/// their sum over every file. Each graph's canvas carries `data-points` (how many points it
/// holds) and `data-last` (the latest value), and the page sets `data-ready` on `<body>` once
/// every graph has a point: what a headless browser can check.
enum DashboardPage {
    static let html = #"""
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>mmstats</title>
        <style>
          :root { color-scheme: light dark; --fg: #1d2430; --muted: #6b7585; --line: #2f6fde; --grid: #d8dde6; --bg: #ffffff; }
          @media (prefers-color-scheme: dark) { :root { --fg: #e4e8ef; --muted: #98a2b3; --line: #6ea2ff; --grid: #323a47; --bg: #14181f; } }
          body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: var(--fg); background: var(--bg); }
          header { display: flex; flex-wrap: wrap; gap: 1rem; align-items: baseline; }
          h1 { font-size: 1.25rem; margin: 0; }
          form { display: flex; gap: .5rem; flex: 1; min-width: 20rem; }
          input[type=text] { flex: 1; font: inherit; padding: .3rem .5rem; }
          #status { color: var(--muted); }
          #graphs { display: grid; grid-template-columns: repeat(auto-fill, minmax(22rem, 1fr)); gap: 1rem; margin-top: 1rem; }
          figure { margin: 0; border: 1px solid var(--grid); border-radius: 6px; padding: .5rem .75rem; }
          figcaption { display: flex; justify-content: space-between; gap: .5rem; }
          figcaption .name { font-weight: 600; overflow-wrap: anywhere; }
          figcaption .value { font-variant-numeric: tabular-nums; }
          canvas { width: 100%; height: 140px; display: block; }
          .hint { color: var(--muted); font-size: 12px; }
          nav a { margin-right: .75rem; }
        </style>
        </head>
        <body>
        <header>
          <h1>mmstats</h1>
          <form id="choose"><input type="text" id="names" aria-label="metrics" placeholder="metric or metric.field, comma-separated"><button>Show</button></form>
          <span id="status">starting…</span>
        </header>
        <nav class="hint"><a href="/metrics">/metrics</a><a href="/api/files">/api/files</a><a href="/api/metrics">/api/metrics</a></nav>
        <div id="graphs"></div>
        <script>
        "use strict";
        const params = new URLSearchParams(location.search);
        const interval = Math.min(60, Math.max(0.1, parseFloat(params.get("interval")) || 1));
        const keep = Math.min(10000, Math.max(2, parseInt(params.get("points"), 10) || 300));
        const graphs = [];
        let kinds = {};

        function fmt(v) {
          if (v === null || v === undefined || !isFinite(v)) return "–";
          const a = Math.abs(v);
          if (a !== 0 && (a >= 1e6 || a < 1e-3)) return v.toExponential(3);
          return (Math.round(v * 1000) / 1000).toString();
        }

        // "web.latency.p99" → metric "web.latency", field "p99" when the metric exists; else the whole name.
        function split(spec) {
          if (kinds[spec] !== undefined) return { name: spec, field: "value" };
          const dot = spec.lastIndexOf(".");
          if (dot > 0 && kinds[spec.slice(0, dot)] !== undefined) return { name: spec.slice(0, dot), field: spec.slice(dot + 1) };
          return { name: spec, field: "value" };
        }

        function makeGraph(spec) {
          const { name, field } = split(spec);
          const counter = field === "value" && (kinds[name] === "counter" || kinds[name] === "derived-counter");
          const figure = document.createElement("figure");
          const caption = document.createElement("figcaption");
          const label = document.createElement("span");
          label.className = "name";
          label.textContent = spec + (counter ? " (per second)" : "");
          const value = document.createElement("span");
          value.className = "value";
          value.textContent = "–";
          caption.append(label, value);
          const canvas = document.createElement("canvas");
          canvas.dataset.metric = spec;
          canvas.dataset.points = "0";
          figure.append(caption, canvas);
          document.getElementById("graphs").append(figure);
          return { spec, name, field, counter, canvas, value, points: [], previous: null };
        }

        function draw(g) {
          const c = g.canvas, dpr = window.devicePixelRatio || 1;
          const w = c.clientWidth || 320, h = c.clientHeight || 140;
          c.width = Math.round(w * dpr); c.height = Math.round(h * dpr);
          const ctx = c.getContext("2d");
          ctx.scale(dpr, dpr);
          const style = getComputedStyle(document.documentElement);
          ctx.clearRect(0, 0, w, h);
          const pts = g.points;
          let lo = Infinity, hi = -Infinity;
          for (const p of pts) { if (p.v < lo) lo = p.v; if (p.v > hi) hi = p.v; }
          if (!isFinite(lo)) { lo = 0; hi = 1; }
          if (hi === lo) { hi += 1; lo -= lo === 0 ? 0 : 1; }
          const pad = 4, left = 56;
          ctx.strokeStyle = style.getPropertyValue("--grid"); ctx.fillStyle = style.getPropertyValue("--muted");
          ctx.font = "11px system-ui, sans-serif"; ctx.lineWidth = 1;
          for (let i = 0; i <= 2; i++) {
            const y = pad + (h - 2 * pad) * i / 2;
            ctx.beginPath(); ctx.moveTo(left, y); ctx.lineTo(w, y); ctx.stroke();
            ctx.fillText(fmt(hi - (hi - lo) * i / 2), 2, y + 4);
          }
          if (pts.length < 1) return;
          const t0 = pts[0].t, t1 = Math.max(pts[pts.length - 1].t, t0 + interval * 1000);
          ctx.strokeStyle = style.getPropertyValue("--line"); ctx.lineWidth = 1.5; ctx.beginPath();
          pts.forEach((p, i) => {
            const x = left + (w - left) * (p.t - t0) / (t1 - t0);
            const y = pad + (h - 2 * pad) * (1 - (p.v - lo) / (hi - lo));
            if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
          });
          ctx.stroke();
        }

        async function poll(g) {
          const url = "/api/aggregate?name=" + encodeURIComponent(g.name) + "&field=" + encodeURIComponent(g.field);
          const r = await fetch(url, { cache: "no-store" });
          if (!r.ok) throw new Error(g.spec + ": HTTP " + r.status);
          const body = await r.json();
          const now = Date.now();
          if (body.count === 0) { g.value.textContent = "no value"; return; }
          let v = body.sum;
          if (g.counter) {
            const prev = g.previous;
            g.previous = { t: now, v: body.sum };
            if (!prev) { g.value.textContent = "total " + fmt(body.sum); return; }
            const dt = (now - prev.t) / 1000;
            v = dt > 0 ? Math.max(0, body.sum - prev.v) / dt : 0;  // a restart never draws a negative rate
          }
          g.points.push({ t: now, v });
          if (g.points.length > keep) g.points.shift();
          g.canvas.dataset.points = String(g.points.length);
          g.canvas.dataset.last = String(v);
          g.value.textContent = fmt(v);
          draw(g);
        }

        async function tick() {
          const status = document.getElementById("status");
          try {
            await Promise.all(graphs.map(poll));
            status.textContent = graphs.length ? "updated " + new Date().toLocaleTimeString() : "no metrics yet";
            if (graphs.length && graphs.every(g => g.points.length > 0)) document.body.dataset.ready = "1";
          } catch (e) {
            status.textContent = String(e.message || e);
          }
          setTimeout(tick, interval * 1000);
        }

        async function start() {
          const r = await fetch("/api/metrics", { cache: "no-store" });
          const body = await r.json();
          for (const m of body.metrics || []) if (kinds[m.name] === undefined) kinds[m.name] = m.kind;
          let specs = (params.get("m") || "").split(",").map(s => s.trim()).filter(Boolean);
          if (!specs.length) {
            specs = Object.keys(kinds).filter(n => ["counter", "gauge", "derived", "derived-counter"].includes(kinds[n])).slice(0, 6);
          }
          document.getElementById("names").value = specs.join(", ");
          for (const s of specs.slice(0, 24)) graphs.push(makeGraph(s));
          tick();
        }

        document.getElementById("choose").addEventListener("submit", e => {
          e.preventDefault();
          const q = new URLSearchParams(location.search);
          q.set("m", document.getElementById("names").value.split(",").map(s => s.trim()).filter(Boolean).join(","));
          location.search = q.toString();
        });
        window.addEventListener("resize", () => graphs.forEach(draw));
        start().catch(e => { document.getElementById("status").textContent = String(e.message || e); });
        </script>
        </body>
        </html>

        """#
}
