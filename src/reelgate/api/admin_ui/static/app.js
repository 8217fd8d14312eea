// reelgate admin: live job progress over SSE, the playground's model-dependent
// choices, and confirmations. Plain JS, no dependencies, no inline handlers (CSP).
"use strict";

function followJob(box) {
  const status = box.querySelector("[data-live-status]");
  const progress = box.querySelector("[data-live-progress]");
  const bar = box.querySelector("[data-live-bar]");
  const error = box.querySelector("[data-live-error]");
  const video = box.querySelector("video");
  const source = new EventSource(box.dataset.jobStream);
  const show = (v) => {
    box.dataset.status = v.status;
    document.body.dataset.jobStatus = v.status;
    if (status) status.textContent = v.status.replace("_", " ");
    if (progress) progress.textContent = String(v.progress);
    if (bar) bar.style.width = v.progress + "%";
    if (v.status === "completed") {
      source.close();
      if (video) {
        video.hidden = false;
        video.src = box.dataset.videoSrc;
        video.muted = true;
        video.play().catch(() => {});  // autoplay may be refused; the controls remain
      }
    } else if (v.status === "failed") {
      source.close();
      if (error) {
        error.hidden = false;
        error.textContent = (v.error && (v.error.code + ": " + v.error.message)) || "failed";
      }
    }
  };
  for (const name of ["queued", "in_progress", "completed", "failed"]) {
    source.addEventListener(name, (e) => show(JSON.parse(e.data)));
  }
}

function playgroundChoices(form) {
  const models = JSON.parse(form.dataset.models);
  const modelSelect = form.querySelector("[data-model-select]");
  const sizeSelect = form.querySelector("[data-size-select]");
  const secondsSelect = form.querySelector("[data-seconds-select]");
  const fill = (select, values, preferred) => {
    const keep = select.value || select.dataset.current;
    select.replaceChildren(...values.map((v) => new Option(v, v)));
    select.value = values.includes(keep) ? keep : preferred;
    select.dataset.current = "";
  };
  const update = () => {
    const m = models.find((x) => x.id === modelSelect.value) || models[0];
    fill(sizeSelect, m.sizes, m.default_size);
    fill(secondsSelect, m.seconds, m.default_seconds);
  };
  modelSelect.addEventListener("change", update);
  update();
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-job-stream]").forEach((box) => {
    if (["completed", "failed"].includes(box.dataset.status)) return;
    followJob(box);
  });
  const playground = document.getElementById("playground");
  if (playground) playgroundChoices(playground);
  document.querySelectorAll("form[data-confirm]").forEach((form) => {
    form.addEventListener("submit", (e) => {
      if (!window.confirm(form.dataset.confirm)) e.preventDefault();
    });
  });
  document.querySelectorAll("[data-live-bar]").forEach((bar) => {
    const p = bar.closest("[data-job-stream]");
    if (p && p.dataset.status === "completed") bar.style.width = "100%";
  });
});
