package org.uprelay.shim;

import android.app.PendingIntent;
import android.content.BroadcastReceiver;
import android.content.Context;
import android.content.Intent;
import android.content.pm.PackageManager;
import android.os.Build;
import android.os.Parcelable;
import android.util.Log;

import java.lang.reflect.Method;

/**
 * Which app sent a REGISTER / UNREGISTER / MESSAGE_ACK, as AND_3.0.0 defines it: the sender's
 * shared identity on Android 14+, else the creator of the {@code pi} PendingIntent it attached.
 * Extras such as "application" are not trusted: any app can write them.
 */
final class CallerIdentity {
    private static final String TAG = "uprelay";
    private static final int UPSIDE_DOWN_CAKE = 34;

    private CallerIdentity() {
    }

    /** Null when the caller cannot be identified; such intents are ignored. */
    static String of(BroadcastReceiver receiver, Context context, Intent intent) {
        if (Build.VERSION.SDK_INT >= UPSIDE_DOWN_CAKE) {
            String shared = sentFromPackage(receiver);
            if (shared != null) {
                return shared;
            }
        }
        String creator = pendingIntentCreator(intent);
        if (creator != null && Build.VERSION.SDK_INT >= UPSIDE_DOWN_CAKE && targetSdk(context, creator) >= UPSIDE_DOWN_CAKE) {
            // The spec reserves the PendingIntent path for apps built before identity sharing existed.
            Log.w(TAG, "ignoring a PendingIntent identity from an app that should share its identity");
            return null;
        }
        return creator;
    }

    // getSentFromPackage() is API 34; the app compiles against API 23, hence reflection.
    private static String sentFromPackage(BroadcastReceiver receiver) {
        try {
            Method m = BroadcastReceiver.class.getMethod("getSentFromPackage");
            return (String) m.invoke(receiver);
        } catch (Exception e) {
            Log.w(TAG, "getSentFromPackage failed", e);
            return null;
        }
    }

    private static String pendingIntentCreator(Intent intent) {
        try {
            Parcelable pi = intent.getParcelableExtra("pi");
            return pi instanceof PendingIntent ? ((PendingIntent) pi).getCreatorPackage() : null;
        } catch (RuntimeException e) {
            // A hostile sender can put unparcelable garbage in the extras.
            Log.w(TAG, "unreadable pi extra", e);
            return null;
        }
    }

    private static int targetSdk(Context context, String packageName) {
        try {
            return context.getPackageManager().getApplicationInfo(packageName, 0).targetSdkVersion;
        } catch (PackageManager.NameNotFoundException e) {
            return Integer.MAX_VALUE;
        }
    }
}
