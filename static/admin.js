// shoplens merchandiser console: live index, re-index with progress and cancel, versions, rollback,
// skipped rows. Every call carries the admin token, which stays in this tab's sessionStorage.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const i18n = window.shoplensI18n;
  let timer = null;
  let shownVersion = null;

  const token = () => sessionStorage.getItem("shoplens-admin-token") || "";

  async function api(path, options = {}) {
    const response = await fetch(path, { ...options, headers: { ...(options.headers || {}), Authorization: `Bearer ${token()}` } });
    if (response.status === 401 || response.status === 403) {
      const body = await response.json().catch(() => null);
      signOut(body && body.error ? i18n.errorMessage(body.error) : i18n.t("console.please_sign_in"));
      throw new Error("unauthorized");
    }
    if (!response.ok) {
      const body = await response.json().catch(() => null);
      throw new Error(body && body.error ? i18n.errorMessage(body.error)
                                        : i18n.t("network.failed", { status: response.status }));
    }
    return response;
  }

  function cell(row, text) {
    const td = document.createElement("td");
    td.textContent = text;
    row.append(td);
    return td;
  }

  function when(value) {
    if (!value) return "";
    const date = typeof value === "number" ? new Date(value * 1000) : new Date(value);
    return date.toLocaleString(i18n.language);
  }

  function renderLive(live, model) {
    const total = (counts) => Object.values(counts || {}).reduce((a, b) => a + b, 0);
    const facts = [["console.version", live.version], ["console.products", live.products ?? live.count],
                   ["console.variants", live.variants ?? 0],
                   ["console.images", live.images ?? live.count], ["console.model", model],
                   ["console.index_type", live.index_type], ["console.built", when(live.created)],
                   ["console.skipped_rows", total(live.skipped)],
                   ["console.skipped_images", total(live.skipped_images)]];
    $("live").replaceChildren(...facts.flatMap(([k, v]) => {
      const dt = document.createElement("dt"); dt.textContent = i18n.t(k);
      const dd = document.createElement("dd"); dd.textContent = String(v);
      return [dt, dd];
    }));
  }

  function renderVersions(versions) {
    $("versions").replaceChildren(...versions.map((version) => {
      const row = document.createElement("tr");
      row.className = version.live ? "live" : "";
      row.dataset.version = version.version;
      cell(row, version.live ? i18n.t("console.live_mark", { version: version.version }) : version.version);
      cell(row, String(version.products ?? version.count));
      cell(row, String(version.variants ?? 0));
      cell(row, String(version.images ?? version.count));
      cell(row, version.index_type);
      cell(row, when(version.created));
      const actions = cell(row, "");
      const view = document.createElement("button");
      view.type = "button"; view.className = "link"; view.textContent = i18n.t("console.skipped_rows");
      view.addEventListener("click", () => showSkipped(version.version));
      actions.append(view);
      if (!version.live) {
        const rollback = document.createElement("button");
        rollback.type = "button"; rollback.className = "button rollback"; rollback.textContent = i18n.t("console.roll_back");
        rollback.addEventListener("click", () => rollBack(version.version));
        actions.append(" ", rollback);
      }
      return row;
    }));
  }

  function renderJob(job, history) {
    const running = Boolean(job);
    $("job").hidden = !running;
    $("cancel").hidden = !running;
    $("reindex").disabled = running;
    if (running) {
      $("job-progress").max = Math.max(job.total, 1);
      $("job-progress").value = job.done;
      const eta = job.eta_seconds === null ? i18n.t("console.estimating")
        : i18n.t("console.seconds_left", { seconds: Math.ceil(job.eta_seconds) });
      $("job-facts").textContent = i18n.t("console.progress", {
        done: job.done, total: job.total, rate: i18n.number(job.images_per_second, 1), eta, errors: job.errors });
    }
    $("history").replaceChildren(...history.map((item) => {
      const row = document.createElement("tr");
      cell(row, when(item.started));
      const outcome = cell(row, "");
      const badge = document.createElement("span");
      badge.className = `badge ${item.state}`;
      badge.textContent = i18n.t(`console.state.${item.state}`);
      outcome.append(badge);
      cell(row, [item.message, item.version].filter(Boolean).join(" · "));
      return row;
    }));
  }

  async function refresh() {
    try {
      const status = await (await api("/api/v1/admin/status")).json();
      $("catalog-source").textContent = status.catalog_source;
      renderLive(status.live, status.model);
      renderVersions(status.versions);
      renderJob(status.job, status.history);
      if (!shownVersion) showSkipped(status.live.version);
      clearTimeout(timer);
      timer = setTimeout(refresh, status.job ? 700 : 4000);
    } catch (error) {
      if (error.message !== "unauthorized") $("job-status").textContent = error.message;
    }
  }

  async function showSkipped(version) {
    shownVersion = version;
    $("skipped-version").textContent = version;
    const body = await (await api(`/api/v1/admin/versions/${encodeURIComponent(version)}/skipped`)).json();
    $("skipped").replaceChildren(...body.rows.map((item) => {
      const row = document.createElement("tr");
      [item.line, item.product_id, item.image, item.reason, item.message].forEach((v) => cell(row, String(v ?? "")));
      return row;
    }));
  }

  async function downloadSkipped() {
    const response = await api(`/api/v1/admin/versions/${encodeURIComponent(shownVersion)}/skipped?format=csv`);
    const url = URL.createObjectURL(await response.blob());
    const link = document.createElement("a");
    link.href = url;
    link.download = `skipped-${shownVersion}.csv`;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }

  async function act(path, options, message) {
    try {
      await api(path, options);
      $("job-status").textContent = message;
      $("job-status").className = "status";
    } catch (error) {
      if (error.message !== "unauthorized") {
        $("job-status").textContent = error.message;
        $("job-status").className = "status error";
      }
    }
    refresh();
  }

  const reindex = () => act("/api/v1/admin/reindex", { method: "POST" }, i18n.t("console.reindex_started"));
  const cancel = () => act("/api/v1/admin/jobs/current/cancel", { method: "POST" }, i18n.t("console.cancelling"));
  const rollBack = (version) => {
    shownVersion = null;
    return act("/api/v1/admin/rollback", { method: "POST", headers: { "Content-Type": "application/json" },
                                          body: JSON.stringify({ version }) }, i18n.t("console.now_live", { version }));
  };

  function signIn(event) {
    event.preventDefault();
    sessionStorage.setItem("shoplens-admin-token", $("token").value.trim());
    $("token").value = "";
    show();
  }

  function signOut(message = "") {
    sessionStorage.removeItem("shoplens-admin-token");
    clearTimeout(timer);
    $("console").hidden = true;
    $("sign-out").hidden = true;
    $("sign-in").hidden = false;
    $("sign-in-status").textContent = message;
  }

  function show() {
    if (!token()) return signOut();
    $("sign-in").hidden = true;
    $("console").hidden = false;
    $("sign-out").hidden = false;
    refresh();
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("sign-in").addEventListener("submit", signIn);
    $("sign-out").addEventListener("click", () => signOut());
    $("reindex").addEventListener("click", reindex);
    $("cancel").addEventListener("click", cancel);
    $("skipped-csv").addEventListener("click", downloadSkipped);
    show();
  });
})();
