// The phone page: follows the device over /api/events and sends the JSON commands
// every other adapter takes to /api/command. No framework, no build step.
"use strict";
const $ = (id) => document.getElementById(id);
const TRIGGERS = ["whispering", "soft_speaking", "personal_attention", "tapping", "scratching",
  "brushing", "crinkle", "page_turning", "typing", "mouth_sounds", "hair_play", "water", "rain",
  "waves", "wind", "fire", "fan", "noise", "binaural", "nature"];
let state = {};
let sounds = [];
let device = {};
let dragging = false;

async function api(path, body, headers) {
  const init = body === undefined ? {} : {
    method: "POST", body: body instanceof Blob ? body : JSON.stringify(body),
    headers: headers || {"Content-Type": "application/json"},
  };
  const response = await fetch(path, {credentials: "same-origin", ...init});
  if (response.status === 401) { location.href = "/login.html"; throw new Error("log in first"); }
  let answer = {};
  try { answer = await response.json(); } catch (e) { answer = {error: response.statusText}; }
  if (!response.ok) throw new Error(answer.error || `failed (${response.status})`);
  return answer;
}

async function send(command, errors = $("error")) {
  errors.textContent = "";
  try {
    const reply = await api("/api/command", command);
    if (reply.state) render(reply);
  } catch (e) { errors.textContent = e.message; }
}

// -- Now ----------------------------------------------------------------------------------
function titleOf(id) {
  const found = sounds.find((s) => s.id === id);
  return found ? found.title : (id || "—");
}

function clock(iso) {
  return new Date(iso).toLocaleTimeString([], {hour: "2-digit", minute: "2-digit"});
}

function render(doc) {
  state = {...state, ...doc};
  const playing = state.state === "playing";
  $("now-title").textContent = titleOf(state.sound);
  $("now-state").textContent = {playing: "Playing", fading_out: "Fading out", stopped: "Stopped"}[state.state] || "—";
  $("play").textContent = playing ? "Stop" : "Play";
  $("play").setAttribute("aria-label", playing ? "Stop" : "Play");
  const ceiling = state.max_volume ?? 100;
  const vol = $("vol");
  vol.max = ceiling;
  if (!dragging) vol.value = state.volume ?? 0;
  vol.setAttribute("aria-valuetext", `${state.volume} of ${ceiling}`);
  $("vol-text").textContent = `Volume ${state.volume ?? "—"} · ceiling ${ceiling}`;
  for (const chip of document.querySelectorAll("[data-timer]")) {
    chip.setAttribute("aria-pressed", String(Number(chip.dataset.timer) === Number(state.sleep_timer)));
  }
  $("timer-end").textContent = state.timer_ends_at ? `· ends ${clock(state.timer_ends_at)}` : "";
  const layer = state.layer;
  $("layer-on").checked = !!layer;
  $("layer-name").textContent = layer ? `Layer: ${titleOf(layer.sound)}` : "Layer off";
  $("layer-vol").disabled = !layer;
  if (layer && !dragging) $("layer-vol").value = layer.volume;
  if (layer) $("layer-sound").value = layer.sound;
  $("error").textContent = state.last_error || "";
  for (const button of document.querySelectorAll("#list .sound")) {
    button.setAttribute("aria-current", String(button.dataset.id === state.sound));
  }
  renderOutputs();
  renderPrograms();
  renderPresets();
  renderDevice();
}

function step(direction) {
  const volume = Number(state.volume || 0);
  const size = (direction < 0 ? volume <= 20 : volume < 20) ? 1 : 5;  // fine steps at the low end
  send({volume: Math.max(0, Math.min(Number(state.max_volume ?? 100), volume + direction * size))});
}

function timerPlus() {
  const left = state.timer_ends_at ? (new Date(state.timer_ends_at) - Date.now()) / 60000 : 0;
  send({sleep_timer: Math.min(720, Math.max(0, Math.round(left)) + 10)});
}

// -- Outputs (shown once the device has more than one: status "outputs") -----------------
function renderOutputs() {
  const names = state.outputs;
  const output = state.output || {};
  $("outputs").hidden = !(Array.isArray(names) && names.length > 1);
  if ($("outputs").hidden) return;
  $("output-list").replaceChildren(...names.map((name) => {
    const item = document.createElement("li");
    const choose = Object.assign(document.createElement("button"), {type: "button", className: "sound", textContent: name});
    choose.setAttribute("aria-pressed", String(name === output.name));
    choose.setAttribute("aria-label", `Play on ${name}`);
    choose.addEventListener("click", () => send({output: name}, $("output-error")));
    item.append(choose);
    return item;
  }));
  $("output-facts").textContent = [output.name, output.kind, output.audible ? "audible" : "silent",
    output.connected === false ? "not connected" : null, `ceiling ${state.max_volume}`]
    .filter(Boolean).join(" · ");
}

// -- Programs (shown once the device has them: status "programs") ------------------------
function programButton(text, label, command) {
  const button = Object.assign(document.createElement("button"), {type: "button", textContent: text});
  button.setAttribute("aria-label", label);
  button.addEventListener("click", () => send(command, $("program-error")));
  return button;
}

function renderPrograms() {
  const programs = state.programs;
  $("programs").hidden = !Array.isArray(programs);
  if (!Array.isArray(programs)) return;
  const next = state.next_program;
  $("program-next").textContent = next ? `Next: ${next.name} (${next.kind}) at ${clock(next.at)}` +
    (state.clock_synced === false ? " · waiting for the clock to be set" : "") : "No program due.";
  const running = state.program;
  $("program-running").hidden = !(running && running.kind === "wake");
  if (running) $("program-phase").textContent = `${running.name}: ${running.phase.replace(/_/g, " ")}`;
  const items = programs.map((program) => {
    const item = document.createElement("li");
    const label = Object.assign(document.createElement("span"), {className: "sound", textContent: `${program.name} · ${program.kind} · ${program.at}`});
    const enabled = programButton(program.enabled ? "On" : "Off", `${program.name} enabled`,
      {[program.enabled ? "program_disable" : "program_enable"]: program.name});
    enabled.setAttribute("aria-pressed", String(program.enabled));
    const skip = programButton("Skip next", `Skip the next ${program.name}`,
      {[program.skip_next ? "program_unskip" : "program_skip"]: program.name});
    skip.setAttribute("aria-pressed", String(program.skip_next));
    const removing = Object.assign(document.createElement("button"), {type: "button", textContent: "Remove"});
    removing.setAttribute("aria-label", `Remove ${program.name}`);
    removing.addEventListener("click", () => { if (confirm(`Remove the program “${program.name}”?`)) send({program_remove: program.name}, $("program-error")); });
    item.append(label, enabled, skip, removing);
    return item;
  });
  if (!items.length) items.push(Object.assign(document.createElement("li"), {className: "muted", textContent: "No programs yet."}));
  $("program-list").replaceChildren(...items);
}

// -- Presets (shown once the device has them: status "presets") ---------------------------
function renderPresets() {
  const names = state.presets;
  $("presets").hidden = !Array.isArray(names);
  if (!Array.isArray(names)) return;
  const items = names.map((name) => {
    const item = document.createElement("li");
    const play = Object.assign(document.createElement("button"), {type: "button", className: "sound", textContent: name});
    play.setAttribute("aria-current", String(name === state.preset));
    play.setAttribute("aria-label", `Play preset ${name}`);
    play.addEventListener("click", () => send({preset: name}, $("preset-error")));
    const remove = Object.assign(document.createElement("button"), {type: "button", textContent: "Remove"});
    remove.setAttribute("aria-label", `Remove preset ${name}`);
    remove.addEventListener("click", () => { if (confirm(`Remove the preset “${name}”?`)) send({preset_remove: name}, $("preset-error")); });
    item.append(play, remove);
    return item;
  });
  if (!items.length) items.push(Object.assign(document.createElement("li"), {className: "muted", textContent: "No presets yet: save what plays."}));
  $("preset-list").replaceChildren(...items);
  $("preset-next").disabled = !names.length;
}

// -- Sounds -------------------------------------------------------------------------------
async function loadSounds() {
  try { sounds = (await api("/api/sounds")).sounds; } catch (e) { return; }
  const select = $("trigger");
  const chosen = select.value;
  const tags = [...new Set(sounds.flatMap((s) => s.triggers))].sort();
  select.replaceChildren(new Option("all", ""), ...tags.map((t) => new Option(t.replace(/_/g, " "), t)));
  select.value = tags.includes(chosen) ? chosen : "";
  const layer = $("layer-sound");
  layer.replaceChildren(...sounds.map((sound) => new Option(sound.title, sound.id)));
  const programSound = $("program-sound").value;
  $("program-sound").replaceChildren(...sounds.map((sound) => new Option(sound.title, sound.id)));
  if (programSound) $("program-sound").value = programSound;
  renderSounds();
  render({});
}

function renderSounds() {
  const query = $("search").value.trim().toLowerCase();
  const trigger = $("trigger").value;
  const groups = new Map();
  for (const sound of sounds) {
    if (trigger && !sound.triggers.includes(trigger)) continue;
    if (query && !`${sound.title} ${sound.id} ${sound.category}`.toLowerCase().includes(query)) continue;
    if (!groups.has(sound.category)) groups.set(sound.category, []);
    groups.get(sound.category).push(sound);
  }
  const parts = [];
  for (const [category, members] of [...groups].sort((a, b) => a[0].localeCompare(b[0]))) {
    const heading = document.createElement("h3");
    heading.textContent = category;
    const list = document.createElement("ul");
    for (const sound of members) list.append(soundItem(sound));
    parts.push(heading, list);
  }
  if (!parts.length) parts.push(Object.assign(document.createElement("p"), {className: "muted", textContent: "No sound matches."}));
  $("list").replaceChildren(...parts);
}

function soundItem(sound) {
  const item = document.createElement("li");
  const play = document.createElement("button");
  play.type = "button";
  play.className = "sound";
  play.dataset.id = sound.id;
  play.textContent = sound.title;
  play.setAttribute("aria-label", `Play ${sound.title}`);
  play.setAttribute("aria-current", String(sound.id === state.sound));
  play.addEventListener("click", () => send({sound: sound.id, action: "play"}));
  item.append(play);
  if (sound.editable) {
    const edit = document.createElement("button");
    edit.type = "button";
    edit.textContent = "Edit";
    edit.setAttribute("aria-label", `Edit ${sound.title}`);
    edit.addEventListener("click", () => openEditor(sound));
    const remove = document.createElement("button");
    remove.type = "button";
    remove.textContent = "Delete";
    remove.setAttribute("aria-label", `Delete ${sound.title}`);
    remove.addEventListener("click", () => removeSound(sound));
    item.append(edit, remove);
  }
  return item;
}

async function removeSound(sound) {
  if (!confirm(`Delete “${sound.title}” from the device? This cannot be undone.`)) return;
  try { await api(`/api/sounds/${sound.id}/delete`, {}); } catch (e) { $("error").textContent = e.message; }
}

let editing = null;
function openEditor(sound) {
  editing = sound;
  $("edit-title").value = sound.title;
  $("edit-category").value = sound.category;
  $("edit-error").textContent = "";
  $("edit-triggers").replaceChildren(...TRIGGERS.map((tag) => {
    const label = document.createElement("label");
    const box = Object.assign(document.createElement("input"), {type: "checkbox", value: tag, checked: sound.triggers.includes(tag)});
    label.append(box, tag.replace(/_/g, " "));
    return label;
  }));
  $("editor").showModal();
}

async function saveEditor(event) {
  if (event.submitter && event.submitter.value !== "save") return;
  event.preventDefault();
  const triggers = [...document.querySelectorAll("#edit-triggers input:checked")].map((b) => b.value);
  try {
    await api(`/api/sounds/${editing.id}/meta`, {title: $("edit-title").value, category: $("edit-category").value, triggers});
    $("editor").close();
    setTimeout(loadSounds, 1500);  // the library rescans the folder every few seconds
  } catch (e) { $("edit-error").textContent = e.message; }
}

// -- Upload -------------------------------------------------------------------------------
async function upload(files) {
  for (const file of files) {
    const line = document.createElement("li");
    line.textContent = `${file.name}: sending…`;
    $("upload-log").append(line);
    const cap = device.max_upload_bytes;
    if (cap && file.size > cap) {
      line.textContent = `${file.name}: too large (${(file.size / 1e6).toFixed(1)} MB; at most ${(cap / 1e6).toFixed(0)} MB)`;
      line.className = "error";
      continue;
    }
    try {
      const saved = await api("/api/sounds", file, {"Content-Type": "application/octet-stream", "X-Sound-Name": encodeURIComponent(file.name)});
      line.textContent = `${file.name}: added as “${saved.id}”; it appears in Sounds in a few seconds`;
    } catch (e) {
      line.textContent = `${file.name}: ${e.message}`;
      line.className = "error";
    }
  }
  $("files").value = "";
}

// -- Device -------------------------------------------------------------------------------
async function loadDevice() {
  try { device = await api("/api/device"); } catch (e) { return; }
  $("logout").hidden = !device.password;
  renderDevice();
}

function duration(seconds) {
  if (seconds == null) return "—";
  const d = Math.floor(seconds / 86400), h = Math.floor(seconds % 86400 / 3600), m = Math.floor(seconds % 3600 / 60);
  return d ? `${d} d ${h} h` : h ? `${h} h ${m} min` : `${m} min`;
}

function renderDevice() {
  const output = state.output || {};
  const facts = [
    ["Version", device.version],
    ["Up", duration(device.uptime_s)],
    ["Output", output.name ? [output.name, output.kind, output.audible ? "audible" : "silent",
      "connected" in output ? (output.connected ? "connected" : "not connected") : null]
      .filter(Boolean).join(" · ") : "—"],
    ["MQTT", device.mqtt ? (device.mqtt.configured ? `${device.mqtt.connected ? "connected to" : "not connected to"} ${device.mqtt.broker}` : "off") : "—"],
    ["Clock", "clock_synced" in state ? (state.clock_synced ? "synchronised" : "not synchronised yet") : "—"],
    ["Disk", device.disk ? `${(device.disk.free_bytes / 1e9).toFixed(1)} GB free of ${(device.disk.total_bytes / 1e9).toFixed(1)} GB` : "—"],
  ];
  $("facts").replaceChildren(...facts.flatMap(([name, value]) => [
    Object.assign(document.createElement("dt"), {textContent: name}),
    Object.assign(document.createElement("dd"), {textContent: value ?? "—"}),
  ]));
  const errors = device.last_errors || [];
  $("errors").replaceChildren(...(errors.length ? errors.slice().reverse().map((e) =>
    Object.assign(document.createElement("li"), {textContent: `${new Date(e.at).toLocaleString()}: ${e.error}`}))
    : [Object.assign(document.createElement("li"), {className: "muted", textContent: "none"})]));
}

// -- live ---------------------------------------------------------------------------------
function follow() {
  const events = new EventSource("/api/events");
  events.addEventListener("state", (e) => { $("conn").textContent = ""; render(JSON.parse(e.data)); });
  events.addEventListener("sounds", () => loadSounds());
  events.addEventListener("open", () => { $("conn").textContent = ""; loadSounds(); });
  events.addEventListener("error", () => { $("conn").textContent = "Reconnecting…"; });
}

function wire() {
  $("play").addEventListener("click", () => send({action: state.state === "playing" ? "stop" : "play"}));
  $("vol-down").addEventListener("click", () => step(-1));
  $("vol-up").addEventListener("click", () => step(1));
  const vol = $("vol");
  vol.addEventListener("input", () => { dragging = true; $("vol-text").textContent = `Volume ${vol.value} · ceiling ${vol.max}`; });
  vol.addEventListener("change", () => { dragging = false; send({volume: Number(vol.value)}); });
  for (const chip of document.querySelectorAll("[data-timer]")) {
    chip.addEventListener("click", () => send({sleep_timer: Number(chip.dataset.timer)}));
  }
  $("timer-plus").addEventListener("click", timerPlus);
  $("layer-on").addEventListener("change", (e) => send({layer: e.target.checked ? "on" : "off"}));
  $("layer-sound").addEventListener("change", (e) => send({layer: e.target.value}));
  $("layer-vol").addEventListener("input", () => { dragging = true; });
  $("layer-vol").addEventListener("change", (e) => { dragging = false; send({layer_volume: Number(e.target.value)}); });
  $("snooze").addEventListener("click", () => send({action: "snooze"}, $("program-error")));
  $("dismiss").addEventListener("click", () => send({action: "dismiss"}, $("program-error")));
  $("program-form").addEventListener("submit", (e) => {
    e.preventDefault();
    send({program_add: {name: $("program-name").value, kind: $("program-kind").value,
      at: $("program-at").value, sound: $("program-sound").value}}, $("program-error"));
  });
  $("preset-next").addEventListener("click", () => send({action: "next_preset"}));
  $("preset-form").addEventListener("submit", (e) => {
    e.preventDefault();
    send({preset_save: $("preset-name").value}, $("preset-error"));
    $("preset-name").value = "";
  });
  $("search").addEventListener("input", renderSounds);
  $("trigger").addEventListener("change", renderSounds);
  $("files").addEventListener("change", (e) => upload([...e.target.files]));
  const drop = $("drop");
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); upload([...e.dataTransfer.files]); });
  $("edit-form").addEventListener("submit", saveEditor);
  $("device-refresh").addEventListener("click", loadDevice);
  $("logout").addEventListener("click", async () => { await api("/api/logout", {}); location.href = "/login.html"; });
  setInterval(() => { render({}); loadDevice(); }, 60000);  // end time and uptime stay current
}

wire();
loadDevice();
loadSounds();
follow();
