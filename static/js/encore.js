// Small behaviour shared by the Library, Jobs and party pages (loaded after htmx, deferred).

// htmx leaves 4xx answers unswapped by default. Encore's views answer a refusal
// with the fragment that explains it (the row with its error, an inline message
// under a form), so those are swapped like any answer. So is a 503: Encore's views
// answer it when something outside (YouTube) cannot be reached, with a message
// saying so. Other 5xx stay unswapped.
document.addEventListener("htmx:beforeSwap", (event) => {
  const status = event.detail.xhr.status;
  if ((status >= 400 && status < 500) || status === 503) {
    event.detail.shouldSwap = true;
    event.detail.isError = false;
  }
});

// A new row an answer adds to a list (a wrapper marked data-new-row) may already be there:
// the live socket can push the row before the answer that created it arrives. Then the
// row is swapped by its id rather than added a second time.
document.addEventListener("htmx:beforeSwap", (event) => {
  const text = event.detail.serverResponse;
  if (typeof text !== "string" || !text.includes("data-new-row")) return;
  const template = document.createElement("template");
  template.innerHTML = text;
  let changed = false;
  for (const wrapper of template.content.querySelectorAll("[data-new-row]")) {
    const row = wrapper.firstElementChild;
    if (row && row.id && document.getElementById(row.id)) {
      row.setAttribute("hx-swap-oob", "true");
      wrapper.replaceWith(row);
      changed = true;
    }
  }
  if (changed) event.detail.serverResponse = template.innerHTML;
});

// The pages run no inline script and no eval (the Content-Security-Policy forbids both),
// so what an onsubmit="..." or an hx-trigger filter ("input[...]") did is done here.

// A form with data-confirm="question?" is sent only if the user says yes.
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (form instanceof HTMLFormElement && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
    event.preventDefault();
  }
});

// An input with data-min-length="3" sends nothing as the user types until it holds that
// many characters (a submit of its form still goes, and the form's `required` speaks).
document.addEventListener("htmx:confirm", (event) => {
  const elt = event.detail.elt;
  const trigger = event.detail.triggeringEvent;
  if (!elt.dataset || !elt.dataset.minLength || !trigger || trigger.type !== "input") return;
  if (elt.value.trim().length < Number(elt.dataset.minLength)) event.preventDefault();
});

// A form marked data-reset-on-success is emptied once its request succeeded.
document.addEventListener("htmx:afterRequest", (event) => {
  const form = event.detail.elt;
  if (form instanceof HTMLFormElement && "resetOnSuccess" in form.dataset && event.detail.xhr.status < 300) {
    form.reset();
  }
});

// "encore-push": the pages' HTML WebSockets (hx-ext="ws,encore-push" ws-connect=...).
// Each message is elements that htmx swaps out of band by their id. htmx logs an error
// for one whose target the page does not show (a song outside the search, a job the page
// has not drawn); here such an element is dropped instead, or, if it is a whole row and
// the socket's element says where new rows go (data-new-rows="afterbegin:#job-list"),
// put there.
htmx.defineExtension("encore-push", {
  transformResponse: function (text, xhr, elt) {
    if (xhr) return text; // an ordinary HTMX answer: untouched
    const template = document.createElement("template");
    template.innerHTML = text;
    // Where new rows go: said by the socket's element, or by the list it feeds
    // (data-new-rows-from: the Library's list says it only while unfiltered).
    const from = elt && elt.getAttribute("data-new-rows-from");
    const source = from ? document.querySelector(from) : elt;
    const newRows = source && source.getAttribute("data-new-rows");
    for (const part of Array.from(template.content.children)) {
      const oob = part.getAttribute("hx-swap-oob") || "true";
      const shown = part.id && document.getElementById(part.id);
      // A row being edited stays as it is until it is saved or cancelled.
      if (shown && shown.classList.contains("editing")) {
        part.remove();
        continue;
      }
      if (oob.includes(":") || !part.id || shown) continue;
      if (newRows && oob === "true" && part.classList.contains("row-item")) {
        const wrapper = document.createElement("div");
        wrapper.setAttribute("hx-swap-oob", newRows);
        part.replaceWith(wrapper);
        part.removeAttribute("hx-swap-oob");
        wrapper.appendChild(part);
      } else {
        part.remove();
      }
    }
    return template.innerHTML;
  },
});

// Uploading several files (the Library's form with data-multi-upload="#list"): each goes
// on its own request, one after the other, with its own progress bar and its own answer
// in the list; files dropped on the form go the same way. The new rows arrive through
// the Library's live socket. (fetch() reports no upload progress: XMLHttpRequest does.)
function uploadOne(form, file, list, extra) {
  const item = document.createElement("li");
  const name = document.createElement("span");
  name.textContent = file.name;
  const bar = document.createElement("progress");
  bar.max = 100;
  bar.value = 0;
  bar.setAttribute("aria-label", `Uploading ${file.name}`);
  const result = document.createElement("span");
  result.className = "muted";
  result.textContent = "waiting";
  item.append(name, " ", bar, " ", result);
  list.append(item);
  return () => new Promise((resolve) => {
    const body = new FormData();
    body.append("csrfmiddlewaretoken", form.querySelector("[name=csrfmiddlewaretoken]").value);
    body.append("file", file);
    for (const [field, value] of Object.entries(extra)) body.append(field, value);
    const request = new XMLHttpRequest();
    request.open("POST", form.action);
    request.setRequestHeader("HX-Request", "true");
    request.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) bar.value = Math.round((100 * event.loaded) / event.total);
      result.textContent = `${bar.value} %`;
    });
    request.addEventListener("load", () => {
      const answer = document.createElement("template");
      answer.innerHTML = request.responseText;
      const said = answer.content.querySelector(".error, .notice");
      bar.value = 100;
      result.textContent = said ? said.textContent : `The server answered ${request.status}.`;
      result.className = request.status < 300 ? "notice" : "error";
      item.classList.add(request.status < 300 ? "uploaded" : "refused");
      resolve();
    });
    request.addEventListener("error", () => {
      result.textContent = "The server cannot be reached.";
      result.className = "error";
      resolve();
    });
    request.send(body);
  });
}

async function uploadAll(form, files) {
  const list = document.querySelector(form.dataset.multiUpload);
  if (!list || !files.length) return;
  // The title and artist fields name one song: with several files, each file's tags do.
  const extra = files.length === 1
    ? { title: form.querySelector("[name=title]").value, artist: form.querySelector("[name=artist]").value } : {};
  const jobs = Array.from(files, (file) => uploadOne(form, file, list, extra));
  form.reset();
  for (const job of jobs) await job();
}

document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.dataset.multiUpload || event.defaultPrevented) return;
  event.preventDefault();
  uploadAll(form, form.querySelector("input[type=file]").files);
});
document.addEventListener("dragover", (event) => {
  const zone = event.target.closest && event.target.closest("form[data-multi-upload]");
  if (!zone) return;
  event.preventDefault();
  zone.classList.add("dragging");
});
document.addEventListener("dragleave", (event) => {
  const zone = event.target.closest && event.target.closest("form[data-multi-upload]");
  if (zone) zone.classList.remove("dragging");
});
document.addEventListener("drop", (event) => {
  const zone = event.target.closest && event.target.closest("form[data-multi-upload]");
  if (!zone) return;
  event.preventDefault();
  zone.classList.remove("dragging");
  uploadAll(zone, event.dataTransfer.files);
});
