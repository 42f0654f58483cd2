/* MedSite drop zone: progressive enhancement of a plain multipart <form data-dropzone>.
 *
 * Without JavaScript the form posts to its action (the HTML views). With it, each dropped or chosen file is sent
 * on its own XMLHttpRequest to data-upload-url (multipart field "files", plus the form's other named fields such
 * as "site"), with a progress bar and the server's answer per file:
 *   201 {"images": [...], "errors": []}
 *   400 {"images": [...], "errors": [{"file": name, "message": msg}]}
 *   403/404 {"detail": msg}
 * As files are stored (at most every 300 ms) and when every file is done, the element named by data-refresh (which
 * carries data-results-url) is reloaded with htmx.
 * No inline script or style: everything is configured through data-* attributes (Content-Security-Policy).
 */
(function () {
  "use strict";

  var MAX_PARALLEL = 3;
  var FOLDER_SKIP = /^(\.|DICOMDIR$|Thumbs\.db$|desktop\.ini$)/i;

  function parseJson(text) {
    try {
      return JSON.parse(text);
    } catch (e) {
      return null;
    }
  }

  /* DRF's validation errors: {"site": ["..."], "files": ["..."]}. */
  function fieldMessages(body) {
    return Object.keys(body).filter(function (key) {
      return key !== "images" && key !== "errors" && Array.isArray(body[key]);
    }).map(function (key) {
      return key + ": " + body[key].filter(function (item) { return typeof item === "string"; }).join(" ");
    }).join(" ");
  }

  /* Turn one response into {ok, message, images}. Pure, so it can be tested without a browser. */
  function describeResponse(status, text) {
    var body = parseJson(text) || {};
    var images = Array.isArray(body.images) ? body.images : [];
    var errors = Array.isArray(body.errors) ? body.errors : [];
    var messages = errors.map(function (error) {
      return typeof error === "string" ? error : error && (error.message || error.detail) || "";
    }).filter(Boolean);
    if (status === 0) {
      return { ok: false, message: "The upload did not reach the server (network error). Try again.", images: [] };
    }
    if (status >= 200 && status < 300 && messages.length === 0) {
      return { ok: true, message: "", images: images };
    }
    if (messages.length) {
      return { ok: false, message: messages.join(" "), images: images };
    }
    if (typeof body.detail === "string" && body.detail) {
      return { ok: false, message: body.detail, images: images };
    }
    var fieldErrors = fieldMessages(body);
    if (fieldErrors) {
      return { ok: false, message: fieldErrors, images: images };
    }
    if (status === 413) {
      return { ok: false, message: "The file is larger than the server accepts (HTTP 413).", images: [] };
    }
    if (status === 401 || status === 403) {
      return { ok: false, message: "Not allowed (HTTP " + status + "). Your session may have ended: log in again.", images: [] };
    }
    return { ok: false, message: "The server refused the file (HTTP " + status + ").", images: images };
  }

  function csrfToken(form) {
    var input = form.querySelector('input[name="csrfmiddlewaretoken"]');
    if (input && input.value) {
      return input.value;
    }
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function formatSize(bytes) {
    if (bytes < 1024) { return bytes + " B"; }
    if (bytes < 1024 * 1024) { return (bytes / 1024).toFixed(0) + " KB"; }
    return (bytes / 1024 / 1024).toFixed(1) + " MB";
  }

  /* Files from a drop, walking dropped folders (Chrome, Edge, Firefox and Safari expose webkitGetAsEntry). */
  function droppedFiles(dataTransfer) {
    var items = dataTransfer.items;
    var entries = [];
    if (items && items.length && typeof items[0].webkitGetAsEntry === "function") {
      for (var i = 0; i < items.length; i++) {
        var entry = items[i].kind === "file" ? items[i].webkitGetAsEntry() : null;
        if (entry) { entries.push(entry); }
      }
    }
    if (!entries.length) {
      return Promise.resolve({ files: Array.prototype.slice.call(dataTransfer.files || []), skipped: 0 });
    }
    var result = { files: [], skipped: 0 };
    function walk(entry, inFolder) {
      if (entry.isFile) {
        if (inFolder && FOLDER_SKIP.test(entry.name)) {
          result.skipped += 1;
          return Promise.resolve();
        }
        return new Promise(function (resolve) {
          entry.file(function (file) { result.files.push(file); resolve(); }, function () { resolve(); });
        });
      }
      if (entry.isDirectory) {
        var reader = entry.createReader();
        return new Promise(function (resolve) {
          var children = [];
          (function readBatch() {
            reader.readEntries(function (batch) {
              if (!batch.length) {
                resolve(children.reduce(function (chain, child) {
                  return chain.then(function () { return walk(child, true); });
                }, Promise.resolve()));
                return;
              }
              children = children.concat(Array.prototype.slice.call(batch));
              readBatch();
            }, function () { resolve(); });
          })();
        });
      }
      return Promise.resolve();
    }
    return entries.reduce(function (chain, entry) {
      return chain.then(function () { return walk(entry, false); });
    }, Promise.resolve()).then(function () { return result; });
  }

  function DropZone(form) {
    this.form = form;
    this.url = form.getAttribute("data-upload-url");
    this.area = form.querySelector("[data-dropzone-area]");
    this.input = form.querySelector('input[type="file"]');
    this.list = form.querySelector("[data-upload-list]");
    this.summary = form.querySelector("[data-upload-summary]");
    this.queue = [];
    this.active = 0;
    this.batch = null;
    this.dragDepth = 0;
    this.bind();
    form.classList.add("is-enhanced");
    this.input.removeAttribute("required");
  }

  DropZone.prototype.bind = function () {
    var self = this;
    this.form.addEventListener("submit", function (event) {
      event.preventDefault();
      self.addFiles(Array.prototype.slice.call(self.input.files || []), 0);
    });
    this.input.addEventListener("change", function () {
      self.addFiles(Array.prototype.slice.call(self.input.files || []), 0);
      self.input.value = "";
    });
    this.area.addEventListener("dragenter", function (event) {
      if (!hasFiles(event)) { return; }
      event.preventDefault();
      self.dragDepth += 1;
      self.area.classList.add("is-dragover");
    });
    this.area.addEventListener("dragover", function (event) {
      if (!hasFiles(event)) { return; }
      event.preventDefault();
      event.dataTransfer.dropEffect = "copy";
    });
    this.area.addEventListener("dragleave", function () {
      self.dragDepth = Math.max(0, self.dragDepth - 1);
      if (!self.dragDepth) { self.area.classList.remove("is-dragover"); }
    });
    this.area.addEventListener("drop", function (event) {
      event.preventDefault();
      self.dragDepth = 0;
      self.area.classList.remove("is-dragover");
      droppedFiles(event.dataTransfer).then(function (found) {
        self.addFiles(found.files, found.skipped);
      });
    });
  };

  function hasFiles(event) {
    var types = event.dataTransfer && event.dataTransfer.types;
    return !!types && Array.prototype.indexOf.call(types, "Files") !== -1;
  }

  DropZone.prototype.extraFields = function () {
    var fields = [];
    Array.prototype.forEach.call(this.form.elements, function (element) {
      if (!element.name || element.disabled || element.type === "file" || element.type === "submit") { return; }
      if (element.name === "csrfmiddlewaretoken") { return; }
      fields.push([element.name, element.value]);
    });
    return fields;
  };

  DropZone.prototype.addFiles = function (files, skipped) {
    if (!files.length) {
      this.say(skipped ? "No files to send (" + skipped + " hidden or index files skipped)." : "No files chosen.");
      return;
    }
    if (!this.batch) {
      this.batch = { total: 0, done: 0, failed: 0, skipped: 0 };
    }
    this.batch.total += files.length;
    this.batch.skipped += skipped;
    var self = this;
    files.forEach(function (file) {
      self.queue.push({ file: file, row: self.addRow(file), fields: self.extraFields() });
    });
    this.say("Sending " + this.batch.total + " file" + (this.batch.total === 1 ? "" : "s") + "…");
    this.pump();
  };

  DropZone.prototype.addRow = function (file) {
    var row = document.createElement("li");
    var name = document.createElement("span");
    var state = document.createElement("span");
    var bar = document.createElement("progress");
    var detail = document.createElement("p");
    name.className = "upload-name";
    name.textContent = file.name + " (" + formatSize(file.size) + ")";
    state.className = "upload-state";
    state.textContent = "Waiting";
    bar.max = 100;
    bar.value = 0;
    bar.setAttribute("aria-label", "Upload of " + file.name);
    detail.className = "upload-detail";
    detail.hidden = true;
    row.appendChild(name);
    row.appendChild(state);
    row.appendChild(bar);
    row.appendChild(detail);
    this.list.appendChild(row);
    return { row: row, state: state, bar: bar, detail: detail };
  };

  DropZone.prototype.pump = function () {
    while (this.active < MAX_PARALLEL && this.queue.length) {
      this.send(this.queue.shift());
    }
  };

  DropZone.prototype.send = function (job) {
    var self = this;
    var xhr = new XMLHttpRequest();
    var data = new FormData();
    job.fields.forEach(function (pair) { data.append(pair[0], pair[1]); });
    data.append("files", job.file, job.file.name);
    this.active += 1;
    job.row.state.textContent = "Uploading";
    xhr.open("POST", this.url);
    xhr.setRequestHeader("X-CSRFToken", csrfToken(this.form));
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.onprogress = function (event) {
      if (event.lengthComputable) {
        var percent = Math.round((event.loaded / event.total) * 100);
        job.row.bar.value = percent;
        job.row.state.textContent = percent < 100 ? percent + "%" : "Checking…";
      }
    };
    xhr.upload.onload = function () {
      job.row.bar.value = 100;
      job.row.state.textContent = "Checking…";
    };
    xhr.onload = function () { self.finish(job, describeResponse(xhr.status, xhr.responseText)); };
    xhr.onerror = function () { self.finish(job, describeResponse(0, "")); };
    xhr.onabort = xhr.onerror;
    xhr.send(data);
  };

  DropZone.prototype.finish = function (job, result) {
    var row = job.row;
    this.active -= 1;
    this.batch.done += 1;
    row.bar.value = 100;
    row.bar.hidden = true;
    row.row.classList.add(result.ok ? "is-done" : "is-failed");
    row.state.textContent = result.ok ? "Stored" : "Refused";
    if (!result.ok) {
      this.batch.failed += 1;
      row.detail.textContent = result.message;
      row.detail.hidden = false;
    } else {
      this.describeStored(row, result.images);
      /* Show each stored file in the results at once, not only when the whole batch is done: a list saying
         "No images yet" beside a file marked Stored is a state that does not tell the truth. */
      this.refreshSoon();
    }
    if (this.batch.done === this.batch.total) {
      this.batchFinished();
    } else {
      this.pump();
    }
  };

  DropZone.prototype.describeStored = function (row, images) {
    var studyUrl = this.form.getAttribute("data-study-url");
    var image = images[0] || {};
    var studyId = typeof image.study === "object" && image.study ? image.study.id : image.study || image.study_id;
    if (studyUrl && studyId) {
      var link = document.createElement("a");
      link.href = studyUrl.replace(/\/0\/$/, "/" + encodeURIComponent(studyId) + "/");
      link.textContent = "Open its study";
      row.detail.appendChild(link);
      row.detail.hidden = false;
    } else {
      row.detail.textContent = image.status === "no_model" ? "Stored; no model reads this kind of image." : "Stored; queued for analysis (its result shows below).";
      row.detail.hidden = false;
    }
  };

  DropZone.prototype.batchFinished = function () {
    var batch = this.batch;
    var stored = batch.total - batch.failed;
    var text = "Finished: " + stored + " of " + batch.total + " file" + (batch.total === 1 ? "" : "s") + " stored";
    if (batch.failed) { text += ", " + batch.failed + " refused (see the list for why)"; }
    if (batch.skipped) { text += "; " + batch.skipped + " hidden or index file" + (batch.skipped === 1 ? "" : "s") + " skipped"; }
    this.say(text + ".");
    this.batch = null;
    if (stored) { this.refresh(); }
    this.form.dispatchEvent(new CustomEvent("medsite:uploaded", { bubbles: true, detail: { stored: stored, failed: batch.failed } }));
  };

  /* One refresh for files stored close together (several parallel uploads finishing within 300 ms). */
  DropZone.prototype.refreshSoon = function () {
    var self = this;
    if (this.refreshTimer) { return; }
    this.refreshTimer = window.setTimeout(function () {
      self.refreshTimer = null;
      self.refresh();
    }, 300);
  };

  DropZone.prototype.refresh = function () {
    var selector = this.form.getAttribute("data-refresh");
    var target = selector && document.querySelector(selector);
    var url = target && target.getAttribute("data-results-url");
    if (url && window.htmx) {
      window.htmx.ajax("GET", url, { target: selector, swap: "outerHTML" });
    }
  };

  DropZone.prototype.say = function (text) {
    if (this.summary) { this.summary.textContent = text; }
  };

  function init() {
    var forms = document.querySelectorAll("form[data-dropzone]");
    Array.prototype.forEach.call(forms, function (form) { form.dropZone = new DropZone(form); });
    if (forms.length) {
      /* A file dropped next to the zone would make the browser leave the page to show it. */
      ["dragover", "drop"].forEach(function (type) {
        document.addEventListener(type, function (event) {
          if (hasFiles(event) && !event.defaultPrevented) { event.preventDefault(); }
        });
      });
    }
  }

  window.MedSiteUpload = { describeResponse: describeResponse };
  if (typeof document !== "undefined" && document.querySelectorAll) {
    if (document.readyState === "loading") {
      document.addEventListener("DOMContentLoaded", init);
    } else {
      init();
    }
  }
})();
