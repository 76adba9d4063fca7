// The catalog page: every atom as a card, grouped by family as in the static report.
"use strict";
(async () => {
  const { el, api, badge, when, withToken } = Lab;
  const res = await api("GET", "/api/atoms");
  const groupsNode = document.getElementById("groups");
  if (!res.ok) { groupsNode.replaceChildren(el("p", { class: "error", text: (res.data || {}).detail || "cannot load" })); return; }
  const atoms = res.data;
  const familySelect = document.getElementById("family");
  [...new Set(atoms.map((a) => a.family))].forEach((f) => familySelect.append(el("option", { value: f, text: f })));

  function verdictKey(a) {
    if (!a.verdict) return "not run";
    return a.verdict.scale === "full" ? a.verdict.status : "indicative";
  }

  function card(a) {
    const v = a.verdict;
    const thumb = v ? el("img", { src: withToken(`/api/figures/${v.run_id}/0.png?thumb=true`), alt: "main figure of " + a.title, loading: "lazy" })
                    : el("div", { class: "thumb-none", text: "not run yet" });
    const meta = v ? `${v.scale} scale · ${v.seeds.length} seeds · ${when(v.created)}` : "";
    return el("a", { class: "card", href: withToken("/atom/" + a.name), "data-name": a.name },
      el("div", { class: "family", text: a.family + " · " + a.name }), el("div", { class: "title", text: a.title }),
      el("div", { class: "claim", title: a.claim, text: a.claim }), el("div", {}, badge(v)),
      el("div", { class: "meta", text: meta }), thumb);
  }

  function render() {
    const q = document.getElementById("search").value.trim().toLowerCase();
    const fam = familySelect.value, verdict = document.getElementById("verdict").value;
    const shown = atoms.filter((a) => (!fam || a.family === fam) && (!verdict || verdictKey(a) === verdict) &&
      (!q || [a.name, a.title, a.claim, a.family].join(" ").toLowerCase().includes(q)));
    const groups = [];
    for (const a of shown) {
      if (!groups.length || groups[groups.length - 1].title !== a.group) groups.push({ title: a.group, atoms: [] });
      groups[groups.length - 1].atoms.push(a);
    }
    groupsNode.replaceChildren(...groups.map((g) => el("section", {}, el("h2", { text: g.title }),
      el("div", { class: "grid" }, g.atoms.map(card)))));
    document.getElementById("count").textContent = `${shown.length} of ${atoms.length} atoms`;
  }
  ["search", "family", "verdict"].forEach((id) => document.getElementById(id).addEventListener("input", render));
  render();
})();
