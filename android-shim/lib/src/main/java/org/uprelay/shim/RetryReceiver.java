package org.uprelay.shim;

import android.content.BroadcastReceiver;
import android.content.Context;
import android.content.Intent;

import org.uprelay.shim.core.Distributor;

/**
 * Not exported: only this app's own alarms and the system's boot and update broadcasts reach it.
 * Every alarm (relay retry, token retry, REGISTER deadline, daily check) comes down to resume().
 */
public final class RetryReceiver extends BroadcastReceiver {
    @Override
    public void onReceive(Context context, Intent intent) {
        String action = intent.getAction();
        boolean start = Intent.ACTION_BOOT_COMPLETED.equals(action) || Intent.ACTION_MY_PACKAGE_REPLACED.equals(action);
        Shim shim = Shim.get(context);
        shim.runAsync(goAsync(), Shim.holdFor(intent), new Shim.Task() {
            @Override
            public void run(Distributor distributor) {
                // After a boot or an update the process is new, and starting it already queued a
                // resume() ahead of this task: holding the broadcast until here keeps it alive for that.
                if (!start) {
                    distributor.resume();
                }
            }
        });
    }
}
