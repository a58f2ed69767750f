package org.uprelay.shim;

import android.content.BroadcastReceiver;
import android.content.Context;
import android.content.Intent;

import org.uprelay.shim.core.Distributor;

/** Not exported: only this app's own alarms reach it. */
public final class RetryReceiver extends BroadcastReceiver {
    @Override
    public void onReceive(Context context, Intent intent) {
        Shim shim = Shim.get(context);
        if (RetryScheduler.ACTION_TOKEN.equals(intent.getAction())) {
            shim.tokens.requestToken();
            return;
        }
        shim.runAsync(goAsync(), new Shim.Task() {
            @Override
            public void run(Distributor distributor) {
                distributor.resume();
            }
        }, null);
    }
}
