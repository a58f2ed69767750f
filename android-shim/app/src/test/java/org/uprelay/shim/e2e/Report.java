package org.uprelay.shim.e2e;

/** PASS / FAIL lines and their counts, shared by the end-to-end checks. */
final class Report {
    private int passed;
    private int failed;

    void check(boolean ok, String what) {
        if (ok) {
            pass(what);
        } else {
            fail(what);
        }
    }

    void pass(String what) {
        passed++;
        System.out.println("PASS " + what);
    }

    void fail(String what) {
        failed++;
        System.out.println("FAIL " + what);
    }

    int passed() {
        return passed;
    }

    int failed() {
        return failed;
    }
}
