/* A background job's poll that gets no answer (the server restarting, an
   instance going away) is sent again each second for up to a minute, instead of
   leaving the page waiting for ever: whichever server answers it then says what
   became of the job (its result, or that it was interrupted, with a retry).
   Only polls are sent again (their address names the job): they ask, and
   change nothing. */
(function () {
    var RETRY_MS = 1000;
    var GIVE_UP_MS = 60000;
    var UNAVAILABLE = [502, 503, 504];
    var original = window.fetch;
    if (!original) {
        return;
    }

    function isPoll(input) {
        var url = typeof input === "string" ? input : (input && input.url) || "";
        return url.indexOf("_dash-update-component") !== -1 && /[?&]job=/.test(url);
    }

    window.fetch = function (input, init) {
        if (!isPoll(input)) {
            return original.apply(this, arguments);
        }
        var self = this;
        var started = Date.now();
        return new Promise(function (resolve, reject) {
            function again() {
                return Date.now() - started < GIVE_UP_MS;
            }
            function attempt() {
                original.call(self, input, init).then(
                    function (response) {
                        if (UNAVAILABLE.indexOf(response.status) !== -1 && again()) {
                            setTimeout(attempt, RETRY_MS);
                        } else {
                            resolve(response);
                        }
                    },
                    function (error) {
                        if (again()) {
                            setTimeout(attempt, RETRY_MS);
                        } else {
                            reject(error);
                        }
                    }
                );
            }
            attempt();
        });
    };
})();
