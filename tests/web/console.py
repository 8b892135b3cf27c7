"""The operators' console in headless Chromium (see run.py): sign in with a
wrong token (nothing is shown, the API refuses it), then the right one; see
`items` and `hello` with their versions; upload `hello` 2.0.0 and see it
live; roll it back by keyboard and see 1.0.0 again; drop a broken file and
see the API's refusal; watch a request appear in the live log; take screenshots at 1280 and 390 px wide; measure the
page weight and the time to first render."""

import os
import time
import urllib.error
import urllib.request


def fetch(url, token=None):
    request = urllib.request.Request(url)
    if token is not None:
        request.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read(), response.headers
    except urllib.error.HTTPError as error:
        return error.code, error.read(), error.headers


def console(berth, components, out, browser, requested_elsewhere):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select, WebDriverWait

    problems = []

    def check(condition, problem):
        if not condition:
            problems.append("console: " + problem)
        return condition

    # The API the page reads refuses a wrong token, and says nothing.
    for token in [None, "wrong-token-0123456789"]:
        status, body, headers = fetch(berth.admin_url + "/admin/tenants", token)
        check(status == 401 and b"hello" not in body and b"items" not in body,
              f"/admin/tenants with token {token!r} answered {status}: {body[:200]!r}")
        check(headers.get("X-Frame-Options") == "DENY", "an admin answer may be framed")

    # Page weight: the page and everything it loads.
    weight = {}
    for path in ["/console", "/console/console.js", "/console/console.css", "/console/favicon.svg"]:
        status, body, headers = fetch(berth.admin_url + path)
        check(status == 200, f"{path} answered {status}")
        check("frame-ancestors 'none'" in headers.get("Content-Security-Policy", ""), f"{path} may be framed")
        weight[path] = len(body)

    driver = browser()
    wait = WebDriverWait(driver, 30)

    def screen(width, height, mobile=False):
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                               {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile})

    def whole_page(file, width, height, mobile=False):
        """A screenshot of the whole page at `width`."""
        driver.execute_script("window.scrollTo(0, 0)")
        screen(width, max(height, driver.execute_script("return document.documentElement.scrollHeight")), mobile)
        time.sleep(0.2)
        driver.save_screenshot(os.path.join(out, file))
        screen(width, height, mobile)

    try:
        screen(1280, 1000)
        started = time.monotonic()
        driver.get(berth.admin_url + "/console")
        token = wait.until(lambda d: d.find_element(By.ID, "token") if d.find_element(By.ID, "token").is_displayed() else None)
        visible = time.monotonic() - started
        paint = driver.execute_script(
            "const p = performance.getEntriesByName('first-contentful-paint')[0];"
            "return p ? p.startTime : null;")

        # 1. A wrong token gets nothing.
        token.send_keys("wrong-token-0123456789", Keys.ENTER)
        error = wait.until(lambda d: d.find_element(By.ID, "login-error") if d.find_element(By.ID, "login-error").is_displayed() else None)
        check("refused" in error.text, f"a wrong token said {error.text!r}")
        check(not driver.find_element(By.ID, "app").is_displayed(), "the console showed with a wrong token")
        check(not driver.find_elements(By.CSS_SELECTOR, "#services-body tr"), "services were listed with a wrong token")
        check(driver.execute_script("return sessionStorage.length") == 0, "a wrong token was kept")

        # 2. The right one, by keyboard: items and hello with their versions.
        token = driver.find_element(By.ID, "token")
        token.clear()
        token.send_keys(berth.token, Keys.ENTER)

        def version(service):
            rows = driver.find_elements(By.CSS_SELECTOR, f'tr[data-service="{service}"] td[data-label="Version"]')
            return rows[0].text if rows else None

        wait.until(lambda d: version("items") and version("hello") == "1.0.0")
        check(version("items") == "1.0.0", f"items shows version {version('items')!r}")
        status_text = driver.find_element(By.CSS_SELECTOR, 'tr[data-service="hello"] td[data-label="Status"]').text
        check("live" in status_text, f"hello's status reads {status_text!r}: not in words")
        check(berth.token not in driver.current_url, "the token is in the URL")
        check(not driver.get_cookies(), f"the console set cookies: {driver.get_cookies()}")
        # Numbers come within a refresh or two once there are requests.
        for _ in range(5):
            fetch(berth.url + "/hello/numbers")
        wait.until(lambda d: d.find_element(By.CSS_SELECTOR, 'tr[data-service="hello"] td[data-label="p50"]').text.endswith("ms"))
        whole_page("console-1280.png", 1280, 1000)

        # 3. Upload hello 2.0.0 and see it live.
        driver.find_element(By.ID, "wasm").send_keys(os.path.join(os.path.abspath(components), "test", "hello-v2.wasm"))
        name = driver.find_element(By.ID, "deploy-name")
        check(name.get_attribute("value") == "hello-v2", f"the name was filled as {name.get_attribute('value')!r}")
        name.clear()
        name.send_keys("hello")
        driver.find_element(By.ID, "deploy").click()
        wait.until(lambda d: version("hello") == "2.0.0")
        notice = driver.find_element(By.ID, "notice").text
        check("Deployed hello 2.0.0" in notice, f"the deploy reported {notice!r}")
        status, body, _ = fetch(berth.url + "/hello/web")
        check(b"(v2)" in body, f"hello 2.0.0 is not what serves: {body!r}")

        # 4. Roll it back by keyboard, through the confirmation.
        rollback = driver.find_element(By.CSS_SELECTOR, 'tr[data-service="hello"] button[aria-label="Roll back hello"]')
        rollback.send_keys(Keys.ENTER)
        wait.until(lambda d: d.find_element(By.ID, "confirm").get_attribute("open") is not None)
        check(driver.switch_to.active_element.get_attribute("id") == "confirm-cancel",
              "the confirmation does not start on Cancel")
        driver.switch_to.active_element.send_keys(Keys.TAB)
        driver.switch_to.active_element.send_keys(Keys.ENTER)
        wait.until(lambda d: version("hello") == "1.0.0")
        check("1.0.0" in driver.find_element(By.ID, "notice").text, "the rollback was not reported")
        wait.until(lambda d: "rollback" in d.find_element(By.ID, "history-body").text)

        # A file dropped on the box is picked; a bad component gets the
        # API's own clear refusal, shown as such.
        picked = driver.execute_script("""
            const data = new DataTransfer();
            data.items.add(new File([new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0])], "My Service.wasm",
                                    {type: "application/wasm"}));
            document.getElementById("drop").dispatchEvent(
                new DragEvent("drop", {dataTransfer: data, bubbles: true, cancelable: true}));
            return [document.getElementById("wasm").files[0].name, document.getElementById("deploy-name").value];
        """)
        check(picked == ["My Service.wasm", "my-service"], f"a dropped file was picked as {picked}")
        driver.find_element(By.ID, "deploy").click()
        wait.until(lambda d: "refused" in d.find_element(By.ID, "notice").text)
        notice = driver.find_element(By.ID, "notice").text
        check("The deploy of my-service was refused" in notice and "422" in notice,
              f"a bad component was reported as {notice!r}")
        wait.until(lambda d: "refused" in d.find_element(By.CSS_SELECTOR, 'tr[data-service="my-service"]').text)
        shown = driver.find_element(By.ID, "services").text + driver.find_element(By.ID, "history").text
        check("null" not in shown and "undefined" not in shown, f"a missing value is shown raw: {shown!r}")

        # 5. A request appears in the live log.
        Select(driver.find_element(By.ID, "logs-service")).select_by_value("hello")
        wait.until(lambda d: "Following hello" in d.find_element(By.ID, "logs-state").text)
        marker = "seen-in-the-console-" + os.urandom(4).hex()
        fetch(berth.url + "/hello/" + marker)
        wait.until(lambda d: marker in d.find_element(By.ID, "logs").text)
        line = [li.text for li in driver.find_elements(By.CSS_SELECTOR, "#logs li") if marker in li.text][0]
        check("INFO" in line and "200" in line, f"the log line reads {line!r}")

        # 6. 390 px: everything readable, nothing wider than the screen.
        screen(390, 844, mobile=True)
        time.sleep(0.5)
        overflow = driver.execute_script("return document.documentElement.scrollWidth")
        check(overflow <= 390, f"the page is {overflow} px wide at 390 px")
        label = driver.execute_script(
            "return getComputedStyle(document.querySelector('tr[data-service=\"hello\"] td[data-label=\"Version\"]'),"
            " '::before').content")
        check("Version" in (label or ""), f"cells are not labelled at 390 px: {label!r}")
        whole_page("console-390.png", 390, 844, mobile=True)
        # Signing out forgets the token.
        driver.find_element(By.ID, "signout").click()
        check(driver.execute_script("return sessionStorage.length") == 0, "signing out kept the token")

        requested, elsewhere = requested_elsewhere(driver, berth)
        check(not elsewhere, f"the console fetched from other hosts: {elsewhere}")
        # The wrong token's 401 and the broken file's 422 are expected.
        errors = [e["message"] for e in driver.get_log("browser")
                  if e["level"] == "SEVERE" and "status of 401" not in e["message"]
                  and not ("my-service" in e["message"] and "status of 422" in e["message"])]
        check(not errors, f"browser errors: {errors}")
        print(f"console: page weight {sum(weight.values())} bytes "
              f"({', '.join(f'{p} {n}' for p, n in weight.items())}); sign-in form shown in {visible:.2f} s "
              f"(first contentful paint {f'{paint:.0f} ms' if paint else 'not reported'}); {len(requested)} requests, none elsewhere; "
              f"screenshots {out}/console-1280.png, {out}/console-390.png")
    except Exception as error:  # a wait that timed out: say where, keep a picture
        driver.save_screenshot(os.path.join(out, "console-failed.png"))
        problems.append(f"console: {type(error).__name__}: {error} (screenshot {out}/console-failed.png)")
    finally:
        driver.quit()
    return problems
