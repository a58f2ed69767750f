package org.uprelay.shim;

import android.app.Notification;
import android.app.NotificationManager;
import android.app.PendingIntent;
import android.content.Context;
import android.content.Intent;
import android.os.Build;
import android.util.Log;

import java.lang.reflect.Constructor;
import java.util.List;

import org.uprelay.shim.core.Distributor;
import org.uprelay.shim.core.Problems;
import org.uprelay.shim.core.UserProblem;

/**
 * Shows the open {@link org.uprelay.shim.core.UserProblem}s as one notification that opens the
 * status screen, and removes it when none is left. On Android 13+ it appears only once the
 * user granted POST_NOTIFICATIONS (the status screen asks); the screen lists the problems anyway.
 */
final class ProblemNotifier implements Distributor.ProblemListener {
    private static final String TAG = "uprelay";
    // Named apart from an embedding app's own channels and notifications.
    private static final String CHANNEL = "org.uprelay.shim.problems";
    private static final int ID = 0x75707231;
    private static final String TITLE = "Push needs your attention";
    private static final String CHANNEL_NAME = "Problems that stop push";
    private static final int OREO = 26;
    // NotificationManager.IMPORTANCE_DEFAULT, which API 23's class library does not have.
    private static final int IMPORTANCE_DEFAULT = 3;

    private final Context context;

    ProblemNotifier(Context context) {
        this.context = context;
    }

    @Override
    public void problemsChanged(List<Problems.Open> open) {
        NotificationManager manager = (NotificationManager) context.getSystemService(Context.NOTIFICATION_SERVICE);
        // Battery optimisation is every app's default: alone it stays on the status screen, or
        // the notification would be there on most phones and soon be ignored.
        boolean urgent = false;
        for (Problems.Open p : open) {
            urgent |= p.kind != UserProblem.BATTERY_OPTIMISED;
        }
        if (!urgent) {
            manager.cancel(ID);
            return;
        }
        StringBuilder text = new StringBuilder();
        for (Problems.Open p : open) {
            text.append(text.length() == 0 ? "" : "\n").append(p.detail);
        }
        // The standalone app opens its status screen; an embedding app opens itself.
        Intent launch = context.getPackageManager().getLaunchIntentForPackage(context.getPackageName());
        PendingIntent screen = launch == null ? null : PendingIntent.getActivity(context, 0, launch,
                PendingIntent.FLAG_UPDATE_CURRENT | PendingIntent.FLAG_IMMUTABLE);
        Notification.Builder b = new Notification.Builder(context)
                .setSmallIcon(android.R.drawable.stat_notify_error)
                .setContentTitle(TITLE)
                .setContentText(open.get(0).detail)
                .setStyle(new Notification.BigTextStyle().bigText(text))
                .setContentIntent(screen)
                .setOnlyAlertOnce(true);
        if (Build.VERSION.SDK_INT >= OREO) {
            withChannel(manager, b);
        }
        try {
            manager.notify(ID, b.build());
        } catch (SecurityException e) {
            // Android 13+ without POST_NOTIFICATIONS: the status screen still shows the problems.
            Log.w(TAG, "cannot post the problem notification", e);
        }
    }

    // NotificationChannel and Builder.setChannelId are API 26; the app compiles against API 23.
    private void withChannel(NotificationManager manager, Notification.Builder b) {
        try {
            Class<?> channelClass = Class.forName("android.app.NotificationChannel");
            Constructor<?> make = channelClass.getConstructor(String.class, CharSequence.class, int.class);
            Object channel = make.newInstance(CHANNEL, CHANNEL_NAME, IMPORTANCE_DEFAULT);
            NotificationManager.class.getMethod("createNotificationChannel", channelClass).invoke(manager, channel);
            Notification.Builder.class.getMethod("setChannelId", String.class).invoke(b, CHANNEL);
        } catch (ReflectiveOperationException e) {
            Log.w(TAG, "no notification channel", e);
        }
    }
}
