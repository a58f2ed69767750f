package org.uprelay.shim;

import android.app.Activity;
import android.app.PendingIntent;
import android.content.Intent;
import android.os.Bundle;

/**
 * unifiedpush://link: an app asks, with startActivityForResult, which distributor to use and
 * gets back a PendingIntent whose creator is this app, i.e. a proof of identity it can verify.
 */
public final class LinkActivity extends Activity {
    @Override
    protected void onCreate(Bundle savedInstanceState) {
        super.onCreate(savedInstanceState);
        // Without a caller there is no result to return; the spec asks for a for-result call.
        if (getCallingPackage() == null) {
            setResult(RESULT_CANCELED);
        } else {
            Intent identity = new Intent("org.uprelay.shim.IDENTITY").setPackage(getPackageName());
            Intent result = new Intent()
                    .putExtra("pi", PendingIntent.getBroadcast(this, 0, identity, PendingIntent.FLAG_IMMUTABLE));
            setResult(RESULT_OK, result);
        }
        // Theme.NoDisplay activities must finish before onResume.
        finish();
    }
}
