/* MedSite image viewer: a <canvas> in a modal <dialog data-viewer> or inline in a page (<section data-viewer-inline>,
 * templates/diagnosis/_viewer_inline.html), no external libraries. Both share their markup (_viewer_panel.html).
 *
 * The dialog opens from any link with data-viewer-open (its href is the display PNG; without JavaScript the link
 * opens that PNG). The inline viewer replaces its plain <img> with the canvas and the controls.
 *
 * Two paths:
 * - Stored values (DICOM; data-viewer-pixels names diagnosis.serving.image_pixels, format medsite-pixels/1 in
 *   diagnosis/pixels.py): value = stored x slope + intercept (Hounsfield units for CT), windowed with the DICOM
 *   linear VOI function (PS3.3 C.11.2.1.2.1) through a lookup table indexed by the stored value, so a 2048 x 2048
 *   16-bit image re-windows in one typed-array pass. MONOCHROME1 shows low values bright. Presets per modality;
 *   the default is the file's own VOI window (Window Center/Width) when it has one.
 * - Display values (PNG/JPEG uploads, or when the stored values cannot be had): the 8-bit display PNG's grey
 *   levels 0..255, which are not Hounsfield units.
 *
 * Zoom: wheel, +/- buttons and keys, pinch. Pan: drag, arrow keys. Window/level: right-drag, sliders, presets, w
 * cycles the presets. i inverts, h toggles the AI heatmap (off by default), r resets, Esc closes the dialog.
 */
(function () {
  "use strict";

  var MIN_ZOOM = 0.02;
  var MAX_ZOOM = 32;
  var STEP = 1.25;
  var PAN_STEP = 40;

  /* CT windows as [label, level (centre), width] in HU. Values from Radiopaedia, "Windowing (CT)"
     (https://radiopaedia.org/articles/windowing-ct): brain W:80 L:40, soft tissues W:350-400 L:20-60 (we use
     400/40), lungs W:1500 L:-600, bones W:1800 L:400. */
  var CT_PRESETS = [
    ["Brain", 40, 80],
    ["Soft tissue", 40, 400],
    ["Lung", -600, 1500],
    ["Bone", 400, 1800],
  ];
  /* The 8-bit path's presets, on display grey levels. */
  var DISPLAY_PRESETS = [
    ["Full range", 128, 256],
    ["High contrast", 128, 128],
    ["Soft", 128, 384],
    ["Dark areas", 64, 128],
    ["Bright areas", 192, 128],
  ];

  function clamp(value, low, high) {
    return Math.min(high, Math.max(low, value));
  }

  /* DICOM linear VOI (PS3.3 C.11.2.1.2.1): a value x in a window of centre c and width w, to a grey 0..255. */
  function voi(x, c, w) {
    var low = c - 0.5 - (w - 1) / 2;
    var high = c - 0.5 + (w - 1) / 2;
    if (x <= low) { return 0; }
    if (x > high) { return 255; }
    return Math.round(((x - (c - 0.5)) / Math.max(1e-9, w - 1) + 0.5) * 255);
  }

  /* Lookup table from display value (0..255) to screen grey. Centre 128, width 256 is the identity. */
  function buildLut(center, width, invert) {
    var lut = new Uint8ClampedArray(256);
    var w = Math.max(1, width);
    for (var x = 0; x < 256; x++) {
      var y = voi(x, center, w);
      lut[x] = invert ? 255 - y : y;
    }
    return lut;
  }

  /* Lookup table from stored value (offset by `first`, `count` entries) to a packed opaque RGBA grey (little-endian
     Uint32, as ImageData's buffer reads on every browser MedSite supports). Pure, so tests can check it. */
  function buildValueLut(first, count, slope, intercept, center, width, invert) {
    var lut = new Uint32Array(count);
    var w = Math.max(1e-6, width);
    for (var i = 0; i < count; i++) {
      var y = voi((first + i) * slope + intercept, center, w);
      if (invert) { y = 255 - y; }
      lut[i] = 0xff000000 | (y << 16) | (y << 8) | y;
    }
    return lut;
  }

  /* medsite-pixels/1 (diagnosis/pixels.py): "MSPX", uint32 LE header length, JSON header, values. */
  function parsePixels(buffer) {
    var bytes = new Uint8Array(buffer);
    if (String.fromCharCode(bytes[0], bytes[1], bytes[2], bytes[3]) !== "MSPX") {
      throw new Error("not medsite-pixels data");
    }
    var length = new DataView(buffer).getUint32(4, true);
    var header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + length)));
    var Type = { uint8: Uint8Array, int16: Int16Array, uint16: Uint16Array, float32: Float32Array }[header.dtype];
    if (!Type) {
      throw new Error("unknown dtype " + header.dtype);
    }
    var values = new Type(buffer, 8 + length, header.rows * header.columns);
    return { header: header, values: values };
  }

  /* The presets for a stored-values image: [label, centre, width], the default first. */
  function presetsFor(header) {
    var list = [];
    var modality = header.modality;
    var full = [header.value_min, header.value_max];
    var auto = ["Auto (1st–99th percentile)", (header.p1 + header.p99) / 2, Math.max(1, header.p99 - header.p1)];
    var dicom = header.window ? ["DICOM default", header.window.center, header.window.width] : null;
    if (modality === "CT") {
      /* Without a window in the file, soft tissue first: the default that suits a CT of any body part. */
      list = dicom ? [dicom].concat(CT_PRESETS) : [CT_PRESETS[1], CT_PRESETS[0]].concat(CT_PRESETS.slice(2));
    } else if (modality === "MR") {
      list.push(auto);
      if (dicom) { list.push(dicom); }
    } else {
      var base = dicom || auto;
      list.push(base);
      if (modality === "CR" || modality === "DX" || modality === "MG" || modality === "RF" || modality === "XA") {
        /* Projection radiographs have no absolute units: "bone" narrows the default window to half and moves it
           towards the values shown bright (high for MONOCHROME2, low for MONOCHROME1), where dense bone lies. */
        var sign = header.photometric === "MONOCHROME1" ? -1 : 1;
        list.push(["Bone", base[1] + sign * base[2] / 4, base[2] / 2]);
      }
      if (base !== auto) { list.push(auto); }
    }
    list.push(["Full range", (full[0] + full[1]) / 2, Math.max(1, full[1] - full[0] + 1)]);
    return list;
  }

  function Viewer(root, inline) {
    var find = function (selector) { return root.querySelector(selector); };
    this.root = root;
    this.inline = !!inline;
    this.stage = find("[data-viewer-stage]");
    this.canvas = find("[data-viewer-canvas]");
    this.ctx = this.canvas.getContext("2d");
    this.loading = find("[data-viewer-loading]");
    this.title = find("[data-viewer-title]");
    this.levelInput = find("[data-viewer-level]");
    this.widthInput = find("[data-viewer-window]");
    this.preset = find("[data-viewer-preset]");
    this.scaleHint = find("[data-viewer-scale]");
    this.invertBox = find("[data-viewer-invert]");
    this.zoomOut = find("[data-viewer-zoom]");
    this.wOut = find("[data-viewer-w]");
    this.lOut = find("[data-viewer-l]");
    this.unitOut = find("[data-viewer-unit]");
    this.valueOut = find("[data-viewer-value]");
    this.invertedFlag = find("[data-viewer-inverted]");
    this.levelOut = find("[data-viewer-level-out]");
    this.widthOut = find("[data-viewer-window-out]");
    this.heatmapBox = find("[data-viewer-heatmap]");
    this.heatmapOpacity = find("[data-viewer-heatmap-opacity]");
    this.heatmapControls = find("[data-viewer-heatmap-controls]");
    this.heatmap = null;
    this.work = document.createElement("canvas");
    this.workCtx = this.work.getContext("2d", { willReadFrequently: true });
    this.source = null; /* display path: Uint8Array of grey levels */
    this.stored = null; /* stored-values path: { header, values } */
    this.presets = DISPLAY_PRESETS;
    this.pixels = null;
    this.imageWidth = 0;
    this.imageHeight = 0;
    this.cssWidth = 1;
    this.cssHeight = 1;
    this.dpr = 1;
    this.zoom = 1;
    this.panX = 0;
    this.panY = 0;
    this.center = 128;
    this.width = 256;
    this.invert = false;
    this.fitted = true;
    this.lutDirty = true;
    this.frame = 0;
    this.loadToken = 0;
    this.opener = null;
    this.pointers = new Map();
    this.mode = null;
    this.windowMs = null; /* the last windowing pass, in ms (performance.now()); the e2e test reads it */
    this.bind();
  }

  /* Load an image: `options` = { src (display PNG), pixels (stored-values URL or null), heatmap (URL or null),
     title, opener }. */
  Viewer.prototype.load = function (options) {
    var self = this;
    var token = ++this.loadToken;
    this.heatmap = null;
    this.heatmapBox.checked = false; /* off by default, every time */
    this.heatmapControls.hidden = !options.heatmap;
    if (options.heatmap) {
      var heat = new Image();
      heat.onload = function () {
        if (token === self.loadToken) {
          self.heatmap = heat;
          self.render();
        }
      };
      heat.src = options.heatmap;
    }
    this.opener = options.opener || null;
    this.openerHref = options.src;
    this.source = null;
    this.stored = null;
    if (options.title && !this.inline) {
      this.title.textContent = options.title;
    }
    this.canvas.setAttribute("aria-label", (options.title || this.title.textContent || "Image") + ": use the keys listed below to zoom, pan and window");
    this.loading.textContent = "Loading image…";
    this.loading.hidden = false;
    this.resizeCanvas();
    this.clear();
    var loadDisplay = function (note) {
      var image = new Image();
      image.onload = function () {
        if (token === self.loadToken) {
          self.setDisplayImage(image, note);
        }
      };
      image.onerror = function () {
        if (token === self.loadToken) {
          self.loading.textContent = "The image could not be loaded. Your session may have ended: reload the page.";
        }
      };
      image.src = options.src;
    };
    if (!options.pixels || !window.fetch || !window.TextDecoder) {
      loadDisplay(null);
      return;
    }
    /* The display PNG is small and quick: show it while the stored values load (a large image's take a moment). */
    var preview = new Image();
    preview.onload = function () {
      if (token === self.loadToken && !self.stored) {
        self.setDisplayImage(preview, "Loading the stored values… Until then, window and level act on the display image's values, 0–255.");
        self.root.setAttribute("data-viewer-path", "preview");
      }
    };
    preview.src = options.src;
    window.fetch(options.pixels, { credentials: "same-origin", headers: { Accept: "application/octet-stream" } })
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.arrayBuffer();
      })
      .then(function (buffer) {
        if (token === self.loadToken) {
          self.setStored(parsePixels(buffer));
        }
      })
      .catch(function () {
        if (token === self.loadToken) {
          loadDisplay("The stored values could not be loaded: window and level act on the display image's values, 0–255.");
        }
      });
  };

  Viewer.prototype.open = function (options) {
    if (!this.root.open) {
      this.root.showModal();
    }
    this.load(options);
    this.canvas.focus();
  };

  Viewer.prototype.allocate = function (width, height) {
    this.work.width = width;
    this.work.height = height;
    this.pixels = this.workCtx.createImageData(width, height);
    this.imageWidth = width;
    this.imageHeight = height;
  };

  Viewer.prototype.setDisplayImage = function (image, note) {
    var width = image.naturalWidth;
    var height = image.naturalHeight;
    this.work.width = width;
    this.work.height = height;
    this.workCtx.drawImage(image, 0, 0);
    var data = this.workCtx.getImageData(0, 0, width, height).data;
    var count = width * height;
    var source = new Uint8Array(count);
    for (var i = 0, j = 0; i < count; i++, j += 4) {
      source[i] = (data[j] * 77 + data[j + 1] * 150 + data[j + 2] * 29 + 128) >> 8;
    }
    this.allocate(width, height);
    this.source = source;
    this.presets = DISPLAY_PRESETS;
    this.fillPresets();
    this.setRange(0, 255, 1, 512, 1);
    this.scaleHint.textContent = note || "On the display image's values, 0–255 (this image has no stored values beyond them).";
    this.unitOut.textContent = "";
    this.root.setAttribute("data-viewer-path", "display");
    this.loading.hidden = true;
    this.reset();
  };

  Viewer.prototype.setStored = function (stored) {
    var header = stored.header;
    var keepView = !!this.source && this.imageWidth === header.columns && this.imageHeight === header.rows;
    this.source = null;
    this.allocate(header.columns, header.rows);
    this.stored = stored;
    if (header.dtype !== "float32") {
      this.lutFirst = header.stored_min;
      this.lutCount = header.stored_max - header.stored_min + 1;
    }
    this.units = header.units || "";
    this.presets = presetsFor(header);
    this.fillPresets();
    var span = Math.max(1, header.value_max - header.value_min);
    var step = span >= 256 ? 1 : span / 256;
    this.setRange(header.value_min - span / 2, header.value_max + span / 2, step, span * 2, step);
    var units = this.units === "HU" ? ", in Hounsfield units (HU)" : this.units ? ", in " + this.units : " (after rescale; no unit)";
    this.scaleHint.textContent = "On the stored values" + units + ": from " + header.value_min + " to " + header.value_max + "." +
      (header.step > 1 ? " Shown at 1/" + header.step + " of its " + header.source_columns + "×" + header.source_rows + " pixels." : "") +
      (header.frames > 1 ? " Frame " + (header.frame + 1) + " of " + header.frames + "." : "");
    this.unitOut.textContent = this.units ? " " + this.units : "";
    this.root.setAttribute("data-viewer-path", "stored");
    this.loading.hidden = true;
    if (keepView) { /* the preview had the same pixels: keep the reader's zoom and pan */
      this.invert = false;
      this.applyPreset(0);
    } else {
      this.reset();
    }
  };

  Viewer.prototype.setRange = function (levelMin, levelMax, levelStep, widthMax, widthStep) {
    this.levelInput.min = String(levelMin);
    this.levelInput.max = String(levelMax);
    this.levelInput.step = String(levelStep);
    this.widthInput.min = String(widthStep);
    this.widthInput.max = String(widthMax);
    this.widthInput.step = String(widthStep);
    this.levelMin = levelMin;
    this.levelMax = levelMax;
    this.widthMax = widthMax;
    this.widthMin = widthStep;
  };

  Viewer.prototype.fillPresets = function () {
    var select = this.preset;
    select.textContent = "";
    this.presets.forEach(function (preset, index) {
      var option = document.createElement("option");
      option.value = String(index);
      option.textContent = preset[0] + " (W " + round(preset[2]) + " / L " + round(preset[1]) + ")";
      select.appendChild(option);
    });
    var custom = document.createElement("option");
    custom.value = "custom";
    custom.disabled = true;
    custom.textContent = "Custom";
    select.appendChild(custom);
  };

  function round(value) {
    return Math.abs(value) >= 100 ? Math.round(value) : Math.round(value * 10) / 10;
  }

  Viewer.prototype.close = function () {
    if (!this.inline && this.root.open) {
      this.root.close();
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
    this.applyPreset(0);
    this.fit();
  };

  Viewer.prototype.applyPreset = function (index) {
    var preset = this.presets[index];
    if (preset) {
      this.setWindow(preset[1], preset[2]);
    }
  };

  /* w: the next preset (after the last, the first; from a custom window, the first). */
  Viewer.prototype.nextPreset = function () {
    var current = Number(this.preset.value);
    this.applyPreset(isNaN(current) ? 0 : (current + 1) % this.presets.length);
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
    var precise = this.stored && this.levelInput.step !== "1";
    var tidy = function (value) { return precise ? Math.round(value * 1000) / 1000 : Math.round(value); };
    this.center = tidy(clamp(center, this.levelMin === undefined ? 0 : this.levelMin, this.levelMax === undefined ? 255 : this.levelMax));
    this.width = tidy(clamp(width, this.widthMin || 1, this.widthMax || 512));
    this.levelInput.value = String(this.center);
    this.widthInput.value = String(this.width);
    var self = this;
    var match = -1;
    this.presets.forEach(function (preset, index) {
      if (match < 0 && tidy(preset[1]) === self.center && tidy(preset[2]) === self.width) { match = index; }
    });
    this.preset.value = match >= 0 ? String(match) : "custom";
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
    this.wOut.textContent = String(round(this.width));
    this.lOut.textContent = String(round(this.center));
    this.levelOut.textContent = String(round(this.center));
    this.widthOut.textContent = String(round(this.width));
    this.root.setAttribute("data-viewer-heatmap-shown", this.heatmap && this.heatmapBox.checked ? "true" : "false");
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

  /* Window the image into the work canvas: one pass over the pixels through a lookup table. */
  Viewer.prototype.applyLut = function () {
    var started = window.performance ? window.performance.now() : 0;
    var out = new Uint32Array(this.pixels.data.buffer);
    var i, n;
    if (this.stored) {
      var header = this.stored.header;
      var values = this.stored.values;
      var invert = this.invert !== (header.photometric === "MONOCHROME1");
      if (header.dtype === "float32") {
        var c = this.center, w = Math.max(1e-6, this.width), slope = header.slope, intercept = header.intercept;
        for (i = 0, n = values.length; i < n; i++) {
          var y = voi(values[i] * slope + intercept, c, w);
          if (invert) { y = 255 - y; }
          out[i] = 0xff000000 | (y << 16) | (y << 8) | y;
        }
      } else {
        var lut = buildValueLut(this.lutFirst, this.lutCount, header.slope, header.intercept, this.center, this.width, invert);
        var first = this.lutFirst;
        for (i = 0, n = values.length; i < n; i++) {
          out[i] = lut[values[i] - first];
        }
      }
    } else {
      var grey = buildLut(this.center, this.width, this.invert);
      var packed = new Uint32Array(256);
      for (i = 0; i < 256; i++) {
        packed[i] = 0xff000000 | (grey[i] << 16) | (grey[i] << 8) | grey[i];
      }
      var source = this.source;
      for (i = 0, n = source.length; i < n; i++) {
        out[i] = packed[source[i]];
      }
    }
    this.workCtx.putImageData(this.pixels, 0, 0);
    this.lutDirty = false;
    if (window.performance) {
      this.windowMs = window.performance.now() - started;
      this.root.setAttribute("data-viewer-window-ms", this.windowMs.toFixed(2));
    }
  };

  Viewer.prototype.draw = function () {
    this.clear();
    if (!this.source && !this.stored) {
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
      /* The heatmap overlay (transparent below its threshold) has the image's aspect ratio at a smaller size. */
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

  /* The readout under the pointer: "x, y: value unit" in the source image's pixel coordinates. */
  Viewer.prototype.readout = function (x, y) {
    var column = Math.floor((x - this.cssWidth / 2 - this.panX) / this.zoom + this.imageWidth / 2);
    var row = Math.floor((y - this.cssHeight / 2 - this.panY) / this.zoom + this.imageHeight / 2);
    if (column < 0 || row < 0 || column >= this.imageWidth || row >= this.imageHeight || (!this.stored && !this.source)) {
      this.valueOut.textContent = "—";
      return;
    }
    var index = row * this.imageWidth + column;
    if (this.stored) {
      var header = this.stored.header;
      var value = this.stored.values[index] * header.slope + header.intercept;
      this.valueOut.textContent = round(value) + (this.units ? " " + this.units : "") + " at " + column * header.step + ", " + row * header.step;
    } else {
      this.valueOut.textContent = "grey " + this.source[index] + " at " + column + ", " + row;
    }
  };

  Viewer.prototype.toggleHeatmap = function () {
    if (this.heatmapControls.hidden) { return false; }
    this.heatmapBox.checked = !this.heatmapBox.checked;
    this.render();
    return true;
  };

  Viewer.prototype.onKey = function (event) {
    var target = event.target;
    var tag = target.tagName;
    if (event.ctrlKey || event.metaKey || event.altKey) {
      return;
    }
    if (tag === "SELECT" && (target !== this.preset || (event.key !== "w" && event.key !== "W"))) {
      return;
    }
    if (tag === "TEXTAREA" || target.isContentEditable || (tag === "INPUT" && !/^(range|checkbox|radio|button|submit)$/.test(target.type))) {
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
      case "0":
        this.fit();
        break;
      case "i":
      case "I":
        this.setInvert(!this.invert);
        break;
      case "r":
      case "R":
        this.reset();
        break;
      case "w":
      case "W":
        this.nextPreset();
        break;
      case "h":
      case "H":
        if (!this.toggleHeatmap()) { return; }
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
    event.stopPropagation(); /* the page's own keys (the reading view's) do not see the viewer's */
    if (onCanvas) {
      this.readout(this.cssWidth / 2, this.cssHeight / 2); /* without a pointer: the value at the view's centre */
    }
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
    var here = this.localPoint(event.clientX, event.clientY);
    this.readout(here.x, here.y);
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
      /* Right and left change the window width, down and up the level; one screen pixel moves them by 1/256 of
         the slider's range (1 grey level on the display path, ~16 HU on a CT). */
      var scale = Math.max(this.widthMin || 1, (this.widthMax || 512) / 512);
      this.setWindow(this.center + dy * scale, this.width + dx * scale);
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
    var root = this.root;
    canvas.addEventListener("pointerdown", function (event) { self.onPointerDown(event); });
    canvas.addEventListener("pointermove", function (event) { self.onPointerMove(event); });
    canvas.addEventListener("pointerup", function (event) { self.onPointerUp(event); });
    canvas.addEventListener("pointercancel", function (event) { self.onPointerUp(event); });
    canvas.addEventListener("pointerleave", function () { self.valueOut.textContent = "—"; });
    canvas.addEventListener("wheel", function (event) { self.onWheel(event); }, { passive: false });
    canvas.addEventListener("contextmenu", function (event) { event.preventDefault(); });
    canvas.addEventListener("dblclick", function () { self.fit(); });
    if (this.inline) {
      /* The inline viewer's keys work from anywhere on its page (the reading view leaves + - 0 i h r w to it),
         except in form fields (onKey) and while a dialog is open; arrows pan only from the canvas. */
      document.addEventListener("keydown", function (event) {
        if (event.defaultPrevented || !root.isConnected || document.querySelector("dialog[open]")) {
          return;
        }
        self.onKey(event);
      });
    } else {
      root.addEventListener("keydown", function (event) { self.onKey(event); });
    }
    if (!this.inline) {
      root.addEventListener("close", function () {
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
    }
    root.addEventListener("click", function (event) {
      var button = event.target.closest("[data-viewer-action], [data-viewer-close]");
      if (!button || !root.contains(button)) {
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
      if (self.preset.value !== "custom") {
        self.applyPreset(Number(self.preset.value));
      }
    });
    this.invertBox.addEventListener("change", function () { self.setInvert(self.invertBox.checked); });
    this.heatmapBox.addEventListener("change", function () { self.render(); });
    this.heatmapOpacity.addEventListener("input", function () { self.render(); });
    var onResize = function () {
      if (!self.inline && !root.open) {
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

  /* An inline viewer: swap its plain <img> for the canvas and show the controls. */
  function enhanceInline(section) {
    var fallback = section.querySelector("[data-viewer-fallback]");
    section.querySelector("[data-viewer-canvas]").hidden = false;
    section.querySelector("[data-viewer-controls]").hidden = false;
    var status = section.querySelector("[data-viewer-status]");
    if (status) { status.hidden = false; }
    if (fallback) { fallback.hidden = true; }
    section.classList.add("is-enhanced");
    var viewer = new Viewer(section, true);
    viewer.load({
      src: section.getAttribute("data-viewer-src"),
      pixels: section.getAttribute("data-viewer-pixels"),
      heatmap: section.getAttribute("data-viewer-heatmap"),
      title: section.querySelector("[data-viewer-title]").textContent,
    });
    section.medsiteViewer = viewer;
    return viewer;
  }

  function init() {
    Array.prototype.forEach.call(document.querySelectorAll("[data-viewer-inline]:not(.is-enhanced)"), enhanceInline);
    var dialog = document.querySelector("dialog[data-viewer]");
    if (!dialog || typeof dialog.showModal !== "function" || dialog.medsiteViewer) {
      return; /* No viewer on this page, or a browser without <dialog>: the links open the PNG itself. */
    }
    var viewer = new Viewer(dialog, false);
    dialog.medsiteViewer = viewer;
    document.addEventListener("click", function (event) {
      var link = event.target.closest && event.target.closest("a[data-viewer-open]");
      if (!link || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) {
        return;
      }
      event.preventDefault();
      viewer.open({
        src: link.getAttribute("href"),
        pixels: link.getAttribute("data-viewer-pixels"),
        heatmap: link.getAttribute("data-viewer-heatmap"),
        title: link.getAttribute("data-viewer-title"),
        opener: link,
      });
    });
    window.MedSiteViewer.viewer = viewer;
  }

  window.MedSiteViewer = {
    buildLut: buildLut,
    buildValueLut: buildValueLut,
    parsePixels: parsePixels,
    presetsFor: presetsFor,
    voi: voi,
    Viewer: Viewer,
    enhanceInline: enhanceInline,
    init: init,
  };
  if (typeof document !== "undefined" && document.querySelector) {
    if (document.readyState === "loading") {
      document.addEventListener("DOMContentLoaded", init);
    } else {
      init();
    }
    /* htmx swaps in new content (the reading view's next image): enhance the inline viewers it brings. */
    document.addEventListener("htmx:afterSettle", function () {
      Array.prototype.forEach.call(document.querySelectorAll("[data-viewer-inline]:not(.is-enhanced)"), enhanceInline);
    });
  }
})();
