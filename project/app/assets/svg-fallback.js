/* Where the browser has no WebGL, draw WebGL traces as SVG instead of grey boxes.
   The app sends WebGL (scattergl) only past a few thousand points; plotly.js is
   loaded later by Dash's Graph component, so it is wrapped as it arrives. */
(function () {
    var gl = null;
    try {
        var canvas = document.createElement("canvas");
        gl = canvas.getContext("webgl") || canvas.getContext("experimental-webgl");
    } catch (e) {
        gl = null;
    }
    if (gl) {
        return;
    }
    document.documentElement.setAttribute("data-webgl", "none");

    function svgOnly(traces) {
        (traces || []).forEach(function (trace) {
            if (trace && trace.type === "scattergl") {
                trace.type = "scatter";
            }
        });
    }

    function wrap(plotly) {
        if (!plotly || plotly.svgOnly) {
            return plotly;
        }
        ["newPlot", "react"].forEach(function (name) {
            var original = plotly[name];
            if (typeof original !== "function") {
                return;
            }
            plotly[name] = function (gd, data) {
                svgOnly(Array.isArray(data) ? data : data && data.data);
                return original.apply(this, arguments);
            };
        });
        plotly.svgOnly = true;
        return plotly;
    }

    var current = wrap(window.Plotly);
    Object.defineProperty(window, "Plotly", {
        configurable: true,
        get: function () {
            return current;
        },
        set: function (value) {
            current = wrap(value);
        }
    });
})();
