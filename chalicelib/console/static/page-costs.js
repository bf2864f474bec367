// Admin > Insights > Costs: what the stack's API costs in DynamoDB, per route: requests, read and write
// units per call (counted from ReturnConsumedCapacity by the capacity rollups, GET /admin/metrics/capacity)
// and their on-demand list price; media processing's cost per day is on Insights > Media.
import { api, apiPath, qs } from "./api.js";
import { formats, rangeParams } from "./charts.js";
import { clear, fail, field, h, messageArea, plural, table } from "./ui.js";

const AREA = "admin.insights.costs";
const DAY_MS = 86_400_000;
const RANGES = [
  { id: "24h", label: "Last 24 hours", ms: DAY_MS },
  { id: "7d", label: "Last 7 days", ms: 7 * DAY_MS },
  { id: "30d", label: "Last 30 days", ms: 30 * DAY_MS },
];

const units = (v) => (v >= 100 ? String(Math.round(v)) : String(Number(v.toFixed(v >= 10 ? 1 : 3))));

export async function render(main, { title }) {
  const messages = messageArea();
  const params = new URLSearchParams(location.search);
  const range = h("select", { name: "range", class: "chart-range" }, RANGES.map((r) => h("option", { value: r.id }, r.label)));
  range.value = (RANGES.find((r) => r.id === params.get("range")) || RANGES[0]).id;
  const summary = h("p", { "aria-live": "polite" });
  const listBox = h("div");
  const prices = h("p", { class: "small muted" });
  clear(
    main,
    h("h1", {}, title),
    h("p", { class: "muted" }, "DynamoDB read and write units per API call, by route, as the tables reported them (consumed capacity), at the on-demand list price. Media processing's cost per day is on ", h("a", { href: apiPath("/console/admin/media") }, "Insights > Media"), "."),
    messages.el,
    h("div", { class: "row" }, field("Range", range)),
    summary,
    listBox,
    prices,
  );

  async function load() {
    const r = RANGES.find((x) => x.id === range.value) || RANGES[0];
    let out;
    try {
      out = await api("GET", `/admin/metrics/capacity${qs(rangeParams(r.ms, "hour"))}`);
    } catch (err) {
      fail(messages, err, { action: "load the costs", area: `${AREA}.capacity`, context: { range: r.id } });
      return;
    }
    messages.clear();
    const rru = out.usd_per_million_read_units / 1e6;
    const wru = out.usd_per_million_write_units / 1e6;
    const cost = (x) => x.read_units * rru + x.write_units * wru;
    const routes = out.routes || [];
    const requests = routes.reduce((n, x) => n + x.requests, 0);
    const total = routes.reduce((n, x) => n + cost(x), 0);
    summary.textContent = routes.length
      ? `${plural(requests, "API call")} on ${plural(routes.length, "route")} ${r.label.toLowerCase()}: ${units(routes.reduce((n, x) => n + x.read_units, 0))} read and ${units(routes.reduce((n, x) => n + x.write_units, 0))} write units, about ${formats.usd(total)} in DynamoDB requests.`
      : "";
    clear(
      listBox,
      table(
        [
          { label: "Route", class: "wrap-any", render: (x) => h("code", {}, x.route) },
          { label: "Calls", render: (x) => String(x.requests) },
          { label: "Read units per call", render: (x) => units(x.read_units_per_request) },
          { label: "Write units per call", render: (x) => units(x.write_units_per_request) },
          { label: "$ per million calls", render: (x) => formats.usd(x.usd_per_million_requests) },
          { label: "In this range", render: (x) => `${units(x.read_units)} R / ${units(x.write_units)} W, ${formats.usd(cost(x))}` },
        ],
        routes,
        { caption: "DynamoDB capacity per route", empty: "No API calls counted in this range.", rowAttrs: (x) => ({ "data-route": x.route }) },
      ),
    );
    prices.textContent = `List prices as of ${out.prices_as_of}: ${formats.usd(out.usd_per_million_read_units)} per million read units, ${formats.usd(out.usd_per_million_write_units)} per million write units (on-demand). Buckets in UTC, ${out.from} to ${out.to}.`;
  }
  range.addEventListener("change", () => {
    const url = new URL(location.href);
    url.searchParams.set("range", range.value);
    history.replaceState(null, "", url);
    load();
  });
  await load();
}
