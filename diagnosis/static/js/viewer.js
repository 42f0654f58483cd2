/* MedSite image viewer: a <canvas> in a modal <dialog data-viewer>, no external libraries.
 *
 * Opens from any link with data-viewer-open (its href is the image's display rendition, an 8-bit grayscale PNG;
 * without JavaScript the link simply opens that PNG). Zoom: wheel, +/- buttons and keys, pinch on touch. Pan: drag,
 * arrow keys. Window/level: right-drag, sliders or presets, applied as a lookup table over the 8-bit display values
 * 0..255 with the DICOM linear VOI function (PS3.3 C.11.2.1.2). The rendition is already windowed by its own DICOM
 * VOI, so these values are display grey levels, not Hounsfield units. i inverts, r resets.
 */
(function () {
  "use strict";

  var MIN_ZOOM = 0.02;
  var MAX_ZOOM = 32;
  var STEP = 1.25;
  var PAN_STEP = 40;
  var FULL_RANGE = { center: 128, width: 256 };
  var WIDTH_MIN = 1;
  var WIDTH_MAX = 512;

  function clamp(value, low, high) {
    return Math.min(high, Math.max(low, value));
  }

  /* Lookup table from display value (0..255) to screen grey, for a window centre and width on the same scale.
     Centre 128, width 256 is the identity. Pure, so it can be tested without a browser. */
  function buildLut(center, width, invert) {
    var lut = new Uint8ClampedArray(256);
    var w = Math.max(WIDTH_MIN, width);
    var low = center - 0.5 - (w - 1) / 2;
    var high = center - 0.5 + (w - 1) / 2;
    for (var x = 0; x < 256; x++) {
      var y;
      if (x <= low) {
        y = 0;
      } else if (x > high) {
        y = 255;
      } else {
        y = Math.round(((x - (center - 0.5)) / (w - 1) + 0.5) * 255);
      }
      lut[x] = invert ? 255 - y : y;
    }
    return lut;
  }

  function Viewer(dialog) {
    var find = function (selector) { return dialog.querySelector(selector); };
    this.dialog = dialog;
    this.stage = find("[data-viewer-stage]");
    this.canvas = find("[data-viewer-canvas]");
    this.ctx = this.canvas.getContext("2d");
    this.loading = find("[data-viewer-loading]");
    this.title = find("[data-viewer-title]");
    this.levelInput = find("[data-viewer-level]");
    this.widthInput = find("[data-viewer-window]");
    this.preset = find("[data-viewer-preset]");
    this.invertBox = find("[data-viewer-invert]");
    this.zoomOut = find("[data-viewer-zoom]");
    this.wOut = find("[data-viewer-w]");
    this.lOut = find("[data-viewer-l]");
    this.invertedFlag = find("[data-viewer-inverted]");
    this.levelOut = find("[data-viewer-level-out]");
    this.widthOut = find("[data-viewer-window-out]");
    this.heatmapBox = find("[data-viewer-heatmap]");
    this.heatmapOpacity = find("[data-viewer-heatmap-opacity]");
    this.heatmapControls = find("[data-viewer-heatmap-controls]");
    this.heatmap = null;
    this.work = document.createElement("canvas");
    this.workCtx = this.work.getContext("2d", { willReadFrequently: true });
    this.source = null;
    this.pixels = null;
    this.imageWidth = 0;
    this.imageHeight = 0;
    this.cssWidth = 1;
    this.cssHeight = 1;
    this.dpr = 1;
    this.zoom = 1;
    this.panX = 0;
    this.panY = 0;
    this.center = FULL_RANGE.center;
    this.width = FULL_RANGE.width;
    this.invert = false;
    this.fitted = true;
    this.lutDirty = true;
    this.frame = 0;
    this.loadToken = 0;
    this.opener = null;
    this.pointers = new Map();
    this.mode = null;
    this.bind();
  }

  Viewer.prototype.open = function (src, title, opener, heatmapSrc) {
    var self = this;
    var token = ++this.loadToken;
    var image = new Image();
    this.heatmap = null;
    this.heatmapControls.hidden = !heatmapSrc;
    if (heatmapSrc) {
      var heat = new Image();
      heat.onload = function () {
        if (token === self.loadToken) {
          self.heatmap = heat;
          self.render();
        }
      };
      heat.src = heatmapSrc;
    }
    this.opener = opener || null;
    this.openerHref = src;
    this.source = null;
    this.title.textContent = title || "Image viewer";
    this.canvas.setAttribute("aria-label", (title || "Image") + ", display rendition");
    this.loading.textContent = "Loading image…";
    this.loading.hidden = false;
    if (!this.dialog.open) {
      this.dialog.showModal();
    }
    this.resizeCanvas();
    this.clear();
    this.canvas.focus();
    image.onload = function () {
      if (token === self.loadToken) {
        self.setImage(image);
      }
    };
    image.onerror = function () {
      if (token === self.loadToken) {
        self.loading.textContent = "The image could not be loaded. Your session may have ended: reload the page.";
      }
    };
    image.src = src;
  };

  Viewer.prototype.setImage = function (image) {
    var width = image.naturalWidth;
    var height = image.naturalHeight;
    this.work.width = width;
    this.work.height = height;
    this.workCtx.drawImage(image, 0, 0);
    var rgba = this.workCtx.getImageData(0, 0, width, height);
    var data = rgba.data;
    var count = width * height;
    var source = new Uint8Array(count);
    for (var i = 0, j = 0; i < count; i++, j += 4) {
      source[i] = (data[j] * 77 + data[j + 1] * 150 + data[j + 2] * 29 + 128) >> 8;
      data[j + 3] = 255;
    }
    this.source = source;
    this.pixels = rgba;
    this.imageWidth = width;
    this.imageHeight = height;
    this.loading.hidden = true;
    this.reset();
  };

  Viewer.prototype.close = function () {
    if (this.dialog.open) {
      this.dialog.close();
    }
  };

  Viewer.prototype.resizeCanvas = function () {
    var rect = this.stage.getBoundingClientRect();
    this.dpr = window.devicePixelRatio || 1;
    this.cssWidth = Math.max(1, rect.width);
    this.cssHeight = Math.max(1, rect.height);
    this.canvas.width = Math.round(this.cssWidth * this.dpr);
    this.canvas.height = Math.round(this.cssHeight * this.dpr);
  };

  Viewer.prototype.fitZoom = function () {
    if (!this.imageWidth) {
      return 1;
    }
    return clamp(Math.min(this.cssWidth / this.imageWidth, this.cssHeight / this.imageHeight) * 0.98, MIN_ZOOM, MAX_ZOOM);
  };

  Viewer.prototype.fit = function () {
    this.zoom = this.fitZoom();
    this.panX = 0;
    this.panY = 0;
    this.fitted = true;
    this.render();
  };

  Viewer.prototype.reset = function () {
    this.invert = false;
    this.setWindow(FULL_RANGE.center, FULL_RANGE.width);
    this.fit();
  };

  /* Zoom by factor, keeping the image point under (x, y) (CSS pixels from the canvas's top left) where it is. */
  Viewer.prototype.zoomAt = function (factor, x, y) {
    if (x === undefined) {
      x = this.cssWidth / 2;
      y = this.cssHeight / 2;
    }
    var next = clamp(this.zoom * factor, MIN_ZOOM, MAX_ZOOM);
    var imageX = (x - this.cssWidth / 2 - this.panX) / this.zoom;
    var imageY = (y - this.cssHeight / 2 - this.panY) / this.zoom;
    this.panX = x - this.cssWidth / 2 - imageX * next;
    this.panY = y - this.cssHeight / 2 - imageY * next;
    this.zoom = next;
    this.fitted = false;
    this.render();
  };

  Viewer.prototype.actualSize = function () {
    this.zoomAt(1 / this.zoom);
  };

  Viewer.prototype.pan = function (dx, dy) {
    this.panX += dx;
    this.panY += dy;
    this.fitted = false;
    this.render();
  };

  Viewer.prototype.setWindow = function (center, width) {
    this.center = Math.round(clamp(center, 0, 255));
    this.width = Math.round(clamp(width, WIDTH_MIN, WIDTH_MAX));
    this.levelInput.value = String(this.center);
    this.widthInput.value = String(this.width);
    var key = this.center + "," + this.width;
    var match = Array.prototype.some.call(this.preset.options, function (option) { return option.value === key; });
    this.preset.value = match ? key : "custom";
    this.lutDirty = true;
    this.render();
  };

  Viewer.prototype.setInvert = function (invert) {
    this.invert = !!invert;
    this.lutDirty = true;
    this.render();
  };

  Viewer.prototype.render = function () {
    var self = this;
    this.invertBox.checked = this.invert;
    this.invertedFlag.hidden = !this.invert;
    this.zoomOut.textContent = Math.round(this.zoom * 100) + "%";
    this.wOut.textContent = String(this.width);
    this.lOut.textContent = String(this.center);
    this.levelOut.textContent = String(this.center);
    this.widthOut.textContent = String(this.width);
    if (!this.frame) {
      this.frame = window.requestAnimationFrame(function () {
        self.frame = 0;
        self.draw();
      });
    }
  };

  Viewer.prototype.clear = function () {
    this.ctx.setTransform(1, 0, 0, 1, 0, 0);
    this.ctx.fillStyle = "#000";
    this.ctx.fillRect(0, 0, this.canvas.width, this.canvas.height);
  };

  Viewer.prototype.applyLut = function () {
    var lut = buildLut(this.center, this.width, this.invert);
    var source = this.source;
    var out = this.pixels.data;
    for (var i = 0, j = 0, n = source.length; i < n; i++, j += 4) {
      var value = lut[source[i]];
      out[j] = value;
      out[j + 1] = value;
      out[j + 2] = value;
    }
    this.workCtx.putImageData(this.pixels, 0, 0);
    this.lutDirty = false;
  };

  Viewer.prototype.draw = function () {
    this.clear();
    if (!this.source) {
      return;
    }
    if (this.lutDirty) {
      this.applyLut();
    }
    var scale = this.dpr * this.zoom;
    this.ctx.setTransform(scale, 0, 0, scale, this.dpr * (this.cssWidth / 2 + this.panX), this.dpr * (this.cssHeight / 2 + this.panY));
    this.ctx.imageSmoothingEnabled = this.zoom < 2;
    this.ctx.drawImage(this.work, -this.imageWidth / 2, -this.imageHeight / 2);
    if (this.heatmap && this.heatmapBox.checked) {
      /* The Grad-CAM PNG has the display image's aspect ratio at a smaller size: stretch it over the image. */
      this.ctx.globalAlpha = Number(this.heatmapOpacity.value) / 100;
      this.ctx.imageSmoothingEnabled = true;
      this.ctx.drawImage(this.heatmap, -this.imageWidth / 2, -this.imageHeight / 2, this.imageWidth, this.imageHeight);
      this.ctx.globalAlpha = 1;
    }
  };

  Viewer.prototype.localPoint = function (clientX, clientY) {
    var rect = this.canvas.getBoundingClientRect();
    return { x: clientX - rect.left, y: clientY - rect.top };
  };

  Viewer.prototype.onKey = function (event) {
    var target = event.target;
    var tag = target.tagName;
    if (event.ctrlKey || event.metaKey || event.altKey) {
      return;
    }
    if (tag === "SELECT" || tag === "TEXTAREA" || (tag === "INPUT" && target.type !== "range" && target.type !== "checkbox")) {
      return;
    }
    var step = event.shiftKey ? PAN_STEP * 4 : PAN_STEP;
    var onCanvas = target === this.canvas;
    switch (event.key) {
      case "+":
      case "=":
        this.zoomAt(STEP);
        break;
      case "-":
      case "_":
        this.zoomAt(1 / STEP);
        break;
      case "i":
      case "I":
        this.setInvert(!this.invert);
        break;
      case "r":
      case "R":
        this.reset();
        break;
      case "h":
      case "H":
        if (this.heatmapControls.hidden) { return; }
        this.heatmapBox.checked = !this.heatmapBox.checked;
        this.render();
        break;
      case "ArrowLeft":
        if (!onCanvas) { return; }
        this.pan(step, 0);
        break;
      case "ArrowRight":
        if (!onCanvas) { return; }
        this.pan(-step, 0);
        break;
      case "ArrowUp":
        if (!onCanvas) { return; }
        this.pan(0, step);
        break;
      case "ArrowDown":
        if (!onCanvas) { return; }
        this.pan(0, -step);
        break;
      default:
        return;
    }
    event.preventDefault();
  };

  Viewer.prototype.onPointerDown = function (event) {
    this.canvas.focus();
    if (event.pointerType === "mouse" && event.button !== 0 && event.button !== 2) {
      return;
    }
    event.preventDefault();
    this.canvas.setPointerCapture(event.pointerId);
    this.pointers.set(event.pointerId, { x: event.clientX, y: event.clientY });
    if (event.pointerType === "mouse") {
      this.mode = event.button === 2 ? "window" : "pan";
    } else {
      this.mode = this.pointers.size >= 2 ? "pinch" : "pan";
    }
    this.canvas.classList.toggle("is-panning", this.mode === "pan");
    this.canvas.classList.toggle("is-windowing", this.mode === "window");
  };

  Viewer.prototype.pinchGeometry = function () {
    var points = Array.from(this.pointers.values()).slice(0, 2);
    return {
      distance: Math.hypot(points[0].x - points[1].x, points[0].y - points[1].y),
      x: (points[0].x + points[1].x) / 2,
      y: (points[0].y + points[1].y) / 2,
    };
  };

  Viewer.prototype.onPointerMove = function (event) {
    var previous = this.pointers.get(event.pointerId);
    if (!previous) {
      return;
    }
    var dx = event.clientX - previous.x;
    var dy = event.clientY - previous.y;
    if (this.mode === "pinch" && this.pointers.size >= 2) {
      var before = this.pinchGeometry();
      this.pointers.set(event.pointerId, { x: event.clientX, y: event.clientY });
      var after = this.pinchGeometry();
      var point = this.localPoint(after.x, after.y);
      this.pan(after.x - before.x, after.y - before.y);
      if (before.distance > 0) {
        this.zoomAt(after.distance / before.distance, point.x, point.y);
      }
      return;
    }
    this.pointers.set(event.pointerId, { x: event.clientX, y: event.clientY });
    if (this.mode === "pan") {
      this.pan(dx, dy);
    } else if (this.mode === "window") {
      /* Right and left change the window width, down and up the level. */
      this.setWindow(this.center + dy, this.width + dx);
    }
  };

  Viewer.prototype.onPointerUp = function (event) {
    this.pointers.delete(event.pointerId);
    if (!this.pointers.size) {
      this.mode = null;
    } else if (this.mode === "pinch" && this.pointers.size === 1) {
      this.mode = "pan";
    }
    this.canvas.classList.toggle("is-panning", this.mode === "pan");
    this.canvas.classList.toggle("is-windowing", this.mode === "window");
  };

  Viewer.prototype.onWheel = function (event) {
    event.preventDefault();
    var unit = event.deltaMode === 1 ? 16 : event.deltaMode === 2 ? this.cssHeight : 1;
    var point = this.localPoint(event.clientX, event.clientY);
    this.zoomAt(Math.exp(-event.deltaY * unit * 0.0015), point.x, point.y);
  };

  Viewer.prototype.bind = function () {
    var self = this;
    var canvas = this.canvas;
    canvas.addEventListener("pointerdown", function (event) { self.onPointerDown(event); });
    canvas.addEventListener("pointermove", function (event) { self.onPointerMove(event); });
    canvas.addEventListener("pointerup", function (event) { self.onPointerUp(event); });
    canvas.addEventListener("pointercancel", function (event) { self.onPointerUp(event); });
    canvas.addEventListener("wheel", function (event) { self.onWheel(event); }, { passive: false });
    canvas.addEventListener("contextmenu", function (event) { event.preventDefault(); });
    canvas.addEventListener("dblclick", function () { self.fit(); });
    this.dialog.addEventListener("keydown", function (event) { self.onKey(event); });
    this.dialog.addEventListener("close", function () {
      self.loadToken += 1;
      self.pointers.clear();
      self.mode = null;
      /* htmx may have replaced the link that opened the viewer: fall back to the same image's new link. */
      var opener = self.opener && document.contains(self.opener) ? self.opener : null;
      if (!opener) {
        opener = Array.prototype.find.call(document.querySelectorAll("a[data-viewer-open]"), function (link) {
          return link.getAttribute("href") === self.openerHref;
        });
      }
      if (opener) {
        opener.focus();
      }
    });
    this.dialog.addEventListener("click", function (event) {
      var button = event.target.closest("[data-viewer-action], [data-viewer-close]");
      if (!button) {
        return;
      }
      var action = button.getAttribute("data-viewer-action");
      if (button.hasAttribute("data-viewer-close")) {
        self.close();
      } else if (action === "zoom-in") {
        self.zoomAt(STEP);
      } else if (action === "zoom-out") {
        self.zoomAt(1 / STEP);
      } else if (action === "fit") {
        self.fit();
      } else if (action === "actual") {
        self.actualSize();
      } else if (action === "reset") {
        self.reset();
      }
    });
    var onSlider = function () { self.setWindow(Number(self.levelInput.value), Number(self.widthInput.value)); };
    this.levelInput.addEventListener("input", onSlider);
    this.widthInput.addEventListener("input", onSlider);
    this.preset.addEventListener("change", function () {
      var parts = self.preset.value.split(",");
      if (parts.length === 2) {
        self.setWindow(Number(parts[0]), Number(parts[1]));
      }
    });
    this.invertBox.addEventListener("change", function () { self.setInvert(self.invertBox.checked); });
    this.heatmapBox.addEventListener("change", function () { self.render(); });
    this.heatmapOpacity.addEventListener("input", function () { self.render(); });
    var onResize = function () {
      if (!self.dialog.open) {
        return;
      }
      self.resizeCanvas();
      if (self.fitted) {
        self.zoom = self.fitZoom();
      }
      self.render();
    };
    if (window.ResizeObserver) {
      new window.ResizeObserver(onResize).observe(this.stage);
    } else {
      window.addEventListener("resize", onResize);
    }
  };

  function init() {
    var dialog = document.querySelector("dialog[data-viewer]");
    if (!dialog || typeof dialog.showModal !== "function") {
      return; /* No viewer on this page, or a browser without <dialog>: the links open the PNG itself. */
    }
    var viewer = new Viewer(dialog);
    document.addEventListener("click", function (event) {
      var link = event.target.closest && event.target.closest("a[data-viewer-open]");
      if (!link || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) {
        return;
      }
      event.preventDefault();
      viewer.open(link.getAttribute("href"), link.getAttribute("data-viewer-title"), link, link.getAttribute("data-viewer-heatmap"));
    });
    window.MedSiteViewer.viewer = viewer;
  }

  window.MedSiteViewer = { buildLut: buildLut, Viewer: Viewer };
  if (typeof document !== "undefined" && document.querySelector) {
    if (document.readyState === "loading") {
      document.addEventListener("DOMContentLoaded", init);
    } else {
      init();
    }
  }
})();
